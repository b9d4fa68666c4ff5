import type { Logger } from 'pino';
import {
  CloseCodes,
  encodeControlFrame,
  errorFrame,
  eventIdPartsOfPayload,
  eventTimestampOfPayload,
  formatEventId,
  gapFrame,
  parseEventId,
  parseReceiptRequest,
  resumedFrame,
  type EventIdParts,
  type ServerControlFrame,
} from '@herald/protocol';
import type { Broker } from '../broker/broker.js';
import { replayHistory } from './history-replay.js';
import type { GatewayMetrics } from '../metrics.js';
import { Member, type OfferOutcome, type Outlet } from './member.js';
import { SubscriptionTracker, type Lease } from './subscription-tracker.js';
import { UserStream } from './user-stream.js';

export interface HubOptions {
  readonly nodeId: string;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Events read from history per round trip. */
  readonly historyPageSize?: number;
  /** Messages held per user during recovery before its sockets are told to resync instead. */
  readonly maxHeldPerUser?: number;
  /** Users recovered at once after a broker outage. */
  readonly recoveryConcurrency?: number;
}

function send(member: Member, frame: ServerControlFrame): void {
  if (!member.detached) member.outlet.send(encodeControlFrame(frame));
}

function resync(member: Member, why: string): void {
  if (!member.detached) member.outlet.close(CloseCodes.RESYNC.code, why);
}

/**
 * The one delivery path inside a node: a broker message for user U → each of U's sockets here,
 * once and in order. Sockets that resume get U's history first; after a broker outage every
 * user is backfilled from history before live delivery continues. The hub also holds U's
 * upstream subscription for as long as any of U's sockets does, and answers receipt requests.
 */
export class Hub {
  private readonly users = new Map<string, UserStream>();
  private readonly subscriptions: SubscriptionTracker;
  private readonly logger: Logger;
  private readonly pageSize: number;
  private readonly maxHeld: number;
  private readonly concurrency: number;
  /** Bumped on every outage and every recovery; work from an older one stops. */
  private generation = 0;
  private recovering = false;
  private readonly metrics: GatewayMetrics;
  // Label children looked up once: the delivery path does no label hashing.
  private readonly eventMessages;
  private readonly receiptMessages;
  private readonly droppedBackpressure;
  private readonly droppedTooLarge;
  private readonly droppedClosed;

  constructor(
    private readonly broker: Broker,
    private readonly options: HubOptions,
  ) {
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.eventMessages = this.metrics.brokerMessages.labels('event');
    this.receiptMessages = this.metrics.brokerMessages.labels('receipt_request');
    this.droppedBackpressure = this.metrics.eventsDropped.labels('backpressure');
    this.droppedTooLarge = this.metrics.eventsDropped.labels('too_large');
    this.droppedClosed = this.metrics.eventsDropped.labels('closed');
    this.pageSize = options.historyPageSize ?? 500;
    this.maxHeld = options.maxHeldPerUser ?? 10_000;
    this.concurrency = options.recoveryConcurrency ?? 32;
    this.subscriptions = new SubscriptionTracker(
      { subscribe: (userId) => this.subscribeUpstream(userId), unsubscribe: (userId) => this.unsubscribeUpstream(userId) },
      (operation, _userId, error) => this.logger.warn({ err: error, operation }, 'broker subscription call failed'),
    );
    broker.onMessage((userId, payload) => this.onMessage(userId, payload));
    broker.onConnectionChange((connected) => {
      if (connected) void this.recover();
      else this.suspend();
    });
  }

  /** False while the node catches up after a broker outage: it takes no new sockets then. */
  get ready(): boolean {
    return !this.recovering;
  }

  /** Users this node is subscribed to. */
  get subscribedUsers(): number {
    return this.subscriptions.activeUsers;
  }

  /** Resolves once U's events reach this node; hold the lease for as long as the socket is open. */
  join(userId: string): Promise<Lease> {
    return this.subscriptions.acquire(userId);
  }

  /**
   * Adds a socket of a joined user. It receives every event after `since` (the newest one this
   * node has for the user); call it in the same task as sending the welcome, which carries it.
   */
  attach(userId: string, outlet: Outlet): { readonly member: Member; readonly since: string } {
    const user = this.users.get(userId);
    if (!user) throw new Error(`attach before join for a user this node is not subscribed to`);
    const member = new Member(userId, outlet, user.lastId);
    user.members.add(member);
    return { member, since: formatEventId(user.lastId) };
  }

  /** Closes the user's oldest sockets on this node beyond `max`, with 4500 (they must not reconnect). */
  closeOldestBeyond(userId: string, max: number): void {
    const user = this.users.get(userId);
    if (!user || user.members.size <= max) return;
    const excess = [...user.members].slice(0, user.members.size - max);
    for (const member of excess) {
      if (!member.detached) member.outlet.close(CloseCodes.CONNECTION_LIMIT.code, 'too many connections for this user');
    }
  }

  detach(member: Member): void {
    member.detached = true;
    const discarded = member.discardHeld();
    if (discarded > 0) this.droppedClosed.inc(discarded);
    this.users.get(member.userId)?.members.delete(member);
  }

  /**
   * Sends the member its user's history after `since` (with `herald.gap` first if history cannot
   * vouch for all of it), then the live events that arrived meanwhile, then `herald.resumed`.
   */
  async resume(member: Member, since: string): Promise<void> {
    const start = parseEventId(since);
    if (!start) throw new Error(`resume needs an event id, got ${JSON.stringify(since)}`);
    member.beginResume(start);
    let gap = false;
    try {
      const outcome = await replayHistory(this.broker, member.userId, since, this.pageSize, {
        gap: (oldest) => {
          gap = true;
          this.metrics.gapsSignalled.labels('resume').inc();
          send(member, gapFrame(since, oldest));
        },
        event: (payload, id) => {
          if (!member.detached) this.countSend(member.sendIfNew(payload, id));
        },
        proceed: () => !member.detached,
      });
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'future') {
        this.metrics.resumes.labels('invalid_since').inc();
        send(member, errorFrame('invalid_since', `since ${since} is newer than any event of this user`));
        member.cancelResume();
        return;
      }
      this.metrics.resumes.labels(gap ? 'gap' : 'resumed').inc();
      this.metrics.backfilledEvents.labels('resume').inc(outcome.replayed);
      member.finishResume();
      send(member, resumedFrame(since, outcome.replayed));
    } catch (error) {
      this.metrics.resumes.labels('failed').inc();
      this.logger.warn({ err: error }, 'resume failed; asking the client to resync');
      resync(member, 'history unavailable; reconnect and resume');
    }
  }

  private async subscribeUpstream(userId: string): Promise<void> {
    await this.broker.subscribe(userId);
    let position: EventIdParts | undefined;
    try {
      // Where this node starts: events after this reach sockets live, or from history after an outage.
      position = parseEventId(await this.broker.openHistory(userId));
    } catch (error) {
      await this.broker.unsubscribe(userId).catch(() => undefined);
      throw error;
    }
    if (!position) throw new Error('the broker returned a malformed history position');
    const user = new UserStream(position);
    if (this.recovering) user.held = [];
    this.users.set(userId, user);
  }

  private async unsubscribeUpstream(userId: string): Promise<void> {
    this.users.delete(userId);
    await this.broker.unsubscribe(userId);
  }

  private onMessage(userId: string, payload: Buffer): void {
    const user = this.users.get(userId);
    if (!user) {
      // Unsubscribing: no sockets here. A receipt request still gets its (empty) answer.
      this.answerReceipt(undefined, payload);
      return;
    }
    if (user.held) this.hold(user, payload);
    else this.dispatch(user, payload);
  }

  private dispatch(user: UserStream, payload: Buffer): void {
    const id = eventIdPartsOfPayload(payload);
    if (id) {
      this.eventMessages.inc();
      this.deliver(user, payload, id);
    } else {
      this.answerReceipt(user, payload);
    }
  }

  private deliver(user: UserStream, payload: Buffer, id: EventIdParts): void {
    const delivery = user.deliver(payload, id);
    if (delivery.sent > 0) {
      this.metrics.eventsDelivered.inc(delivery.sent);
      const ts = eventTimestampOfPayload(payload);
      if (ts !== undefined) this.metrics.deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
    }
    if (delivery.refused > 0) this.droppedBackpressure.inc(delivery.refused);
    if (delivery.tooLarge > 0) this.droppedTooLarge.inc(delivery.tooLarge);
  }

  private countSend(outcome: OfferOutcome): void {
    if (outcome === 'sent') this.metrics.eventsDelivered.inc();
    else if (outcome === 'refused') this.droppedBackpressure.inc();
    else if (outcome === 'too_large') this.droppedTooLarge.inc();
  }

  private answerReceipt(user: UserStream | undefined, payload: Buffer): void {
    this.receiptMessages.inc();
    const request = parseReceiptRequest(payload.toString('utf8'));
    if (!request) {
      this.logger.warn('ignoring a message that is neither an event nor a receipt request');
      return;
    }
    const id = parseEventId(request.id);
    const delivery = user && id ? user.deliveryOf(id) : undefined;
    const receipt = {
      id: request.id,
      node: this.options.nodeId,
      attempted: delivery?.attempted ?? 0,
      successful: delivery?.successful ?? 0,
    };
    this.broker.sendReceipt(request.receipt, receipt).catch((error: unknown) => {
      this.logger.warn({ err: error }, 'sending a delivery receipt failed');
    });
  }

  private hold(user: UserStream, payload: Buffer): void {
    const held = user.held ?? [];
    if (held.length < this.maxHeld) {
      held.push(payload);
      return;
    }
    this.logger.warn({ members: user.members.size }, 'recovery backlog full; asking sockets to resync');
    held.length = 0;
    for (const member of user.members) resync(member, 'node recovery backlog full; reconnect and resume');
  }

  /** Subscriptions are lost: hold every user's messages until recovery. */
  private suspend(): void {
    this.generation += 1;
    this.recovering = true;
    for (const user of this.users.values()) user.held ??= [];
    this.logger.warn({ users: this.users.size }, 'broker subscriptions lost; holding deliveries until recovered');
  }

  /** Subscriptions are back: backfill every user from history, then release what was held. */
  private async recover(): Promise<void> {
    this.metrics.brokerReconnects.inc();
    const generation = ++this.generation;
    this.recovering = true;
    const started = Date.now();
    let recovered = 0;
    for (;;) {
      const pending = [...this.users.entries()].filter(([, user]) => user.held !== undefined);
      if (pending.length === 0) break;
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(this.concurrency, pending.length) }, async () => {
          while (next < pending.length && generation === this.generation) {
            const [userId, user] = pending[next++] as [string, UserStream];
            await this.recoverUser(userId, user, generation);
            recovered += 1;
          }
        }),
      );
      if (generation !== this.generation) return;
    }
    this.recovering = false;
    this.logger.info({ users: recovered, ms: Date.now() - started }, 'recovered from broker outage');
  }

  private async recoverUser(userId: string, user: UserStream, generation: number): Promise<void> {
    const current = () => generation === this.generation && this.users.get(userId) === user;
    const since = formatEventId(user.lastId);
    let historyLost = false;
    try {
      const outcome = await replayHistory(this.broker, userId, since, this.pageSize, {
        gap: (oldest) => {
          historyLost = oldest === null;
          const frame = gapFrame(since, oldest);
          for (const member of user.members) {
            if (member.resuming) continue;
            this.metrics.gapsSignalled.labels('recovery').inc();
            send(member, frame);
          }
        },
        event: (payload, id) => {
          this.metrics.backfilledEvents.labels('recovery').inc();
          this.deliver(user, payload, id);
        },
        proceed: current,
      });
      if (outcome.kind === 'future') {
        // History restarted behind what this node saw (Redis lost its data, and its clock went back).
        for (const member of user.members) resync(member, 'history was reset; reconnect and resume');
      }
      if (historyLost && current()) {
        // Start the user's next history now, so new sockets get positions in it.
        const position = parseEventId(await this.broker.openHistory(userId));
        if (position && current()) user.lastId = position;
      }
    } catch (error) {
      if (!current()) return;
      this.logger.error({ err: error }, 'backfill after broker outage failed; asking sockets to resync');
      for (const member of user.members) resync(member, 'could not backfill after an outage; reconnect and resume');
    }
    if (!current()) return;
    const held = user.held ?? [];
    user.held = undefined;
    for (const payload of held) this.dispatch(user, payload);
  }
}
