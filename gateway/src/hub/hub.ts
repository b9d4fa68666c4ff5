import type { Logger } from 'pino';
import { CloseCodes, formatEventId, parseEventId } from '@herald/protocol';
import type { HistoryReader, ReceiptSender, UserSubscriptions } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import { CatchUp } from './catch-up.js';
import { FanOut } from './fan-out.js';
import { Member, type Outlet } from './member.js';
import { PositionKeeper } from './position-keeper.js';
import { ReceiptAnswers } from './receipts.js';
import { ReadBudget } from './read-budget.js';
import { Recovery } from './recovery.js';
import { Sequencer } from './sequencer.js';
import { SocketResume } from './socket-resume.js';
import { SubscriptionTracker, type Lease } from './subscription-tracker.js';
import { UserStream } from './user-stream.js';

export interface HubOptions {
  readonly nodeId: string;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Events read from history per round trip. */
  readonly historyPageSize?: number;
  /** Bytes of events read from history per round trip (at least one event is). */
  readonly historyPageBytes?: number;
  /** Bytes of live events a resuming socket holds back; beyond, they are read from history instead. */
  readonly maxHeldBytesPerSocket?: number;
  /** Messages held per user while it is not live; beyond it, history is read again instead. */
  readonly maxHeldPerUser?: number;
  /** History reads for resumes and catch-ups in flight at once on this node (read-budget.ts). */
  readonly historyReadConcurrency?: number;
  /** First wait before a failed history read is tried again. */
  readonly historyRetryDelayMs?: number;
  /** How long history reads may fail before the sockets waiting on them are asked to resync (default 15 s). */
  readonly historyResyncAfterMs?: number;
  /** How often the positions of followed users are kept alive (position-keeper.ts); default: never. */
  readonly positionRefreshMs?: number;
}

/** How long history reads may fail before the sockets waiting on them are asked to resync. */
export const DEFAULT_RESYNC_AFTER_MS = 15_000;

export type HubBroker = UserSubscriptions & HistoryReader & ReceiptSender;

/**
 * The one delivery path inside a node. A broker message for user U goes to U's stream
 * (user-stream.ts), whose sequencer hands it to U's sockets here (fan-out.ts) if it is the next
 * one, holds it while history fills a hole (catch-up.ts), and drops it if the sockets have it.
 * A stream is opened before the node subscribes and held until its position is read, so no
 * message is lost at that seam. Broker outages hold every stream and catch each up afterwards
 * (recovery.ts); a resuming socket gets its history first (socket-resume.ts); receipt requests
 * are answered with what was sent (receipts.ts). The node follows U for as long as any of U's
 * sockets holds a lease (subscription-tracker.ts), and keeps U's position alive meanwhile
 * (position-keeper.ts).
 */
export class Hub {
  private readonly users = new Map<string, UserStream>();
  private readonly subscriptions: SubscriptionTracker;
  private readonly sequencer: Sequencer;
  private readonly catchUp: CatchUp;
  private readonly recovery: Recovery;
  private readonly receipts: ReceiptAnswers;
  private readonly resumes: SocketResume;
  private readonly positions: PositionKeeper;
  private readonly droppedClosed;
  private readonly maxHeldBytesPerSocket: number;

  constructor(
    private readonly broker: HubBroker,
    options: HubOptions,
  ) {
    const { logger, metrics } = options;
    this.droppedClosed = metrics.eventsDropped.labels('closed');
    const page = { events: options.historyPageSize ?? 500, bytes: options.historyPageBytes ?? 256 * 1024 };
    this.maxHeldBytesPerSocket = options.maxHeldBytesPerSocket ?? 1024 * 1024;
    const retry = {
      firstDelayMs: options.historyRetryDelayMs ?? 100,
      maxDelayMs: 2_000,
      giveUpAfterMs: options.historyResyncAfterMs ?? DEFAULT_RESYNC_AFTER_MS,
    };
    const budget = new ReadBudget(options.historyReadConcurrency ?? 16, 2);
    const fanOut = new FanOut(metrics);
    this.receipts = new ReceiptAnswers(broker, options.nodeId, logger, metrics);
    this.sequencer = new Sequencer(fanOut, this.receipts, metrics, options.maxHeldPerUser ?? 10_000, (user) => {
      void this.catchUp.run(user, 'hole');
    });
    const outage = { generation: 0, suspended: false };
    this.catchUp = new CatchUp(
      {
        history: broker,
        outage,
        follows: (user) => this.users.get(user.userId) === user,
        logger,
        metrics,
        page,
        budget,
        retry,
      },
      this.sequencer,
      fanOut,
    );
    this.recovery = new Recovery(this.catchUp, outage, broker, page, logger, metrics);
    this.resumes = new SocketResume(broker, fanOut, metrics, logger, { page, budget, retry });
    this.positions = new PositionKeeper(broker, () => this.users.keys(), options.positionRefreshMs ?? 0, logger);
    if (options.positionRefreshMs !== undefined) this.positions.start();
    this.subscriptions = new SubscriptionTracker(
      { subscribe: (userId) => this.open(userId), unsubscribe: (userId) => this.close(userId) },
      (operation, _userId, error) => logger.warn({ err: error, operation }, 'broker subscription call failed'),
    );
    broker.onMessage((userId, payload) => {
      const user = this.users.get(userId);
      // No stream: the node stopped following U. A receipt request still gets its (empty) answer.
      if (user) this.sequencer.accept(user, payload);
      else this.receipts.answer(undefined, payload);
    });
    broker.onConnectionChange((connected) => {
      if (connected) void this.recovery.restore(() => this.users.values());
      else this.recovery.suspend(this.users.values());
    });
    broker.onSubscriptionsRenewed((userIds) => {
      for (const userId of userIds) {
        const user = this.users.get(userId);
        if (!user) continue;
        // Still opening: it reads history again once its position is known.
        if (user.position === undefined) {
          user.overflowed = true;
          continue;
        }
        // Events published while it was not subscribed never arrived: history tells.
        user.held ??= [];
        void this.catchUp.run(user, 'resubscribed');
      }
    });
  }

  /** False while the node catches up after a broker outage (see `accepts` for sockets). */
  get ready(): boolean {
    return this.recovery.ready;
  }

  /** Whether a new socket of the user may join now: not while the node catches the user up after a broker outage. */
  accepts(userId: string): boolean {
    const user = this.users.get(userId);
    return user ? !this.recovery.isPending(user) : !this.recovery.outage.suspended;
  }

  /** Users this node is subscribed to. */
  get subscribedUsers(): number {
    return this.subscriptions.activeUsers;
  }

  /** Stops the hub's own timers (the node is leaving). */
  stop(): void {
    this.positions.stop();
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
    if (!user?.position) throw new Error('attach before join for a user this node is not subscribed to');
    const member = new Member(userId, outlet, user.position, this.maxHeldBytesPerSocket);
    user.addMember(member);
    return { member, since: formatEventId(user.position) };
  }

  /** Closes the user's oldest sockets on this node beyond `max`, with 4500 (they must not reconnect). */
  closeOldestBeyond(userId: string, max: number): void {
    const user = this.users.get(userId);
    if (!user || user.members.length <= max) return;
    const excess = user.members.slice(0, user.members.length - max);
    for (const member of excess) {
      if (!member.detached) member.outlet.close(CloseCodes.CONNECTION_LIMIT.code, 'too many connections for this user');
    }
  }

  detach(member: Member): void {
    member.detached = true;
    const discarded = member.discardHeld();
    if (discarded > 0) this.droppedClosed.inc(discarded);
    this.users.get(member.userId)?.removeMember(member);
  }

  /** Replays the user's history after `since` to the member, then lets live events through (socket-resume.ts). */
  resume(member: Member, since: string): Promise<void> {
    return this.resumes.resume(member, since);
  }

  /**
   * Starts following U: the stream exists (holding) before the subscription does, so a message
   * that overtakes the position read is held, not lost; then it is released, dropping what the
   * position already covers.
   */
  private async open(userId: string): Promise<void> {
    const user = new UserStream(userId);
    this.users.set(userId, user);
    const { outage } = this.recovery;
    const generation = outage.generation;
    try {
      await this.broker.subscribe(userId);
      try {
        const position = parseEventId(await this.broker.openHistory(userId));
        if (!position) throw new Error('the broker returned a malformed history position');
        user.position = position;
      } catch (error) {
        await this.broker.unsubscribe(userId).catch(() => undefined);
        throw error;
      }
    } catch (error) {
      if (this.users.get(userId) === user) this.users.delete(userId);
      throw error;
    }
    // An outage began or ended meanwhile (messages may be missing), or too much arrived to hold.
    if (generation !== outage.generation || user.overflowed) void this.catchUp.run(user, 'opening');
    else this.sequencer.release(user);
  }

  private async close(userId: string): Promise<void> {
    this.users.delete(userId);
    this.positions.left(userId);
    await this.broker.unsubscribe(userId);
  }
}
