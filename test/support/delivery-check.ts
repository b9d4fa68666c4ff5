import WebSocket from 'ws';
import { compareEventIds, type GapFrame } from '@herald/protocol';
import { connect, type ConnectOptions, type HeraldClient, type WebSocketConstructor } from '@herald/client';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import { signTestToken } from './tokens.js';

/** Publishes a steady stream of events for several users and remembers what was published. */
export class SteadyPublisher {
  /** Per user, the ids of the events that were published (in publish order). */
  readonly published = new Map<string, string[]>();
  readonly failures: unknown[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly publisher: Publisher;

  constructor(
    redisUrl: string,
    private readonly users: readonly string[],
    /** Events per second, over all users. */
    private readonly rate: number,
  ) {
    this.publisher = createPublisher({ redisUrl, retry: { retries: 2, baseDelayMs: 20 } });
    for (const user of users) this.published.set(user, []);
  }

  start(): void {
    this.running = true;
    const interval = (1000 * this.users.length) / this.rate;
    this.loops = this.users.map(async (user, i) => {
      await new Promise((resolve) => setTimeout(resolve, (interval * i) / this.users.length));
      const log = this.published.get(user) ?? [];
      while (this.running) {
        const started = Date.now();
        try {
          const result = await this.publisher.agentThinking(user, 'run-1', { n: log.length });
          log.push(result.event_id);
        } catch (error) {
          this.failures.push(error); // never published: not expected anywhere
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, interval - (Date.now() - started))));
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  get total(): number {
    let total = 0;
    for (const ids of this.published.values()) total += ids.length;
    return total;
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}

/** A client SDK connection that records everything it is given. */
export class CheckedClient {
  readonly received: { readonly id: string; readonly userId: string }[] = [];
  readonly gaps: GapFrame[] = [];
  /** Every socket close, with when it happened. */
  readonly closes: { readonly code: number; readonly at: number }[] = [];
  /** The node of the current (or last) connection. */
  node: string | undefined;
  private readonly client: HeraldClient;

  private constructor(
    readonly userId: string,
    client: HeraldClient,
  ) {
    this.client = client;
    client.on('event', (event) => this.received.push({ id: event.id, userId: event.user_id }));
    client.on('gap', (gap) => this.gaps.push(gap));
    client.on('close', (info) => this.closes.push({ code: info.code, at: Date.now() }));
    client.on('welcome', (welcome) => (this.node = welcome.node));
  }

  static open(userId: string, url: ConnectOptions['url'], extra: Partial<ConnectOptions> = {}): CheckedClient {
    const client = connect({
      url,
      getToken: () => signTestToken({ sub: userId }),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect: { initialDelayMs: 20, maxDelayMs: 250 },
      ...extra,
    });
    return new CheckedClient(userId, client);
  }

  get state(): HeraldClient['state'] {
    return this.client.state;
  }

  get stats(): HeraldClient['stats'] {
    return this.client.stats;
  }

  close(): void {
    this.client.close();
  }

  /**
   * What is wrong with what this client received, given everything published for its user while
   * it was connected (empty when every event arrived exactly once and in order, and every event
   * that did not arrive is covered by a herald.gap it was given).
   */
  problems(published: readonly string[]): string[] {
    const problems: string[] = [];
    const label = `${this.userId}`;
    if (this.received.some((event) => event.userId !== this.userId)) problems.push(`${label}: received another user's event`);
    if (this.stats.duplicatesDropped > 0) problems.push(`${label}: the gateway sent ${this.stats.duplicatesDropped} duplicate or out-of-order events`);
    const ids = this.received.map((event) => event.id);
    if (new Set(ids).size !== ids.length) problems.push(`${label}: duplicates`);
    if (ids.some((id, i) => i > 0 && compareEventIds(ids[i - 1] as string, id) >= 0)) problems.push(`${label}: out of order`);
    const got = new Set(ids);
    const missing = published.filter((id) => !got.has(id) && !this.coveredByGap(id));
    if (missing.length > 0) {
      problems.push(`${label}: ${missing.length} of ${published.length} events missing without a gap notice (first ${missing[0]})`);
    }
    return problems;
  }

  private coveredByGap(id: string): boolean {
    return this.gaps.some(
      (gap) => compareEventIds(id, gap.since) > 0 && (gap.oldest === null || compareEventIds(id, gap.oldest) < 0),
    );
  }
}

/** Every problem of every client, against what was published for its user. */
export function deliveryProblems(clients: readonly CheckedClient[], publisher: SteadyPublisher): string[] {
  return clients.flatMap((client) => client.problems(publisher.published.get(client.userId) ?? []));
}

/** True once every client holds every event published for its user (or a gap notice covering it). */
export function allDelivered(clients: readonly CheckedClient[], publisher: SteadyPublisher): boolean {
  return deliveryProblems(clients, publisher).length === 0;
}
