import WebSocket from 'ws';
import { compareEventIds, type GapFrame } from '@herald/protocol';
import { connect, type ConnectOptions, type HeraldClient, type WebSocketConstructor } from '@herald/client';
import {
  HeraldPublishError,
  HeraldPublishOutcomeUnknownError,
  createPublisher,
  type Publisher,
} from '@herald/publisher-sdk';
import { signTestToken } from './tokens.js';

export interface SteadyPublisherOptions {
  /**
   * The test breaks Redis on purpose: a publish may fail, and is then tried again (with the same
   * idempotency key) until it succeeds. Otherwise any failure is a problem the test reports.
   */
  readonly faultsExpected?: boolean;
}

/**
 * Publishes a steady stream of events for several users and remembers what was published. Each
 * logical event is retried with its own idempotency key until it is published once.
 */
export class SteadyPublisher {
  /** Per user, the ids of the events that were published (in publish order). */
  readonly published = new Map<string, string[]>();
  /** Every failed attempt, in order. */
  readonly failures: unknown[] = [];
  /** Per user, the `n` of events whose outcome was once unknown (a copy may exist under an id not in `published`). */
  readonly uncertain = new Map<string, Set<number>>();
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly publisher: Publisher;

  constructor(
    /** A Redis URL, or a Redis Cluster's nodes. */
    redis: string | { readonly cluster: readonly string[] },
    private readonly users: readonly string[],
    /** Events per second, over all users. */
    private readonly rate: number,
    private readonly options: SteadyPublisherOptions = {},
  ) {
    // No retries inside the SDK: this publisher retries itself, so it sees every attempt whose
    // outcome was unknown (a copy of it may have been delivered before Redis lost it).
    const target = typeof redis === 'string' ? { redisUrl: redis } : { cluster: redis.cluster };
    this.publisher = createPublisher({ ...target, retry: { retries: 0 }, commandTimeoutMs: 1000 });
    for (const user of users) {
      this.published.set(user, []);
      this.uncertain.set(user, new Set());
    }
  }

  start(): void {
    this.running = true;
    const interval = (1000 * this.users.length) / this.rate;
    this.loops = this.users.map(async (user, i) => {
      await new Promise((resolve) => setTimeout(resolve, (interval * i) / this.users.length));
      const log = this.published.get(user) ?? [];
      for (let n = 0; this.running; n++) {
        const started = Date.now();
        await this.publishOnce(user, n, log);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, interval - (Date.now() - started))));
      }
    });
  }

  private async publishOnce(user: string, n: number, log: string[]): Promise<void> {
    const idempotencyKey = `${user}:${n}`;
    for (;;) {
      try {
        const result = await this.publisher.agentThinking(user, 'run-1', { n }, { idempotencyKey });
        log.push(result.event_id);
        return;
      } catch (error) {
        this.failures.push(error);
        if (error instanceof HeraldPublishOutcomeUnknownError) this.uncertain.get(user)?.add(n);
        if (!(error instanceof HeraldPublishError || error instanceof HeraldPublishOutcomeUnknownError)) throw error;
        if (!this.running) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
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

  /** What went wrong on the publishing side (empty when nothing unexpected failed). */
  problems(): string[] {
    if (this.options.faultsExpected || this.failures.length === 0) return [];
    return [`${this.failures.length} publishes failed unexpectedly (first: ${String(this.failures[0])})`];
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}

export type Arrival =
  | { readonly kind: 'event'; readonly id: string; readonly userId: string; readonly n: unknown }
  | { readonly kind: 'gap'; readonly gap: GapFrame };

/** A client SDK connection that records everything it is given, in arrival order. */
export class CheckedClient {
  readonly received: { readonly id: string; readonly userId: string }[] = [];
  readonly gaps: GapFrame[] = [];
  /** Events and gap notices as they arrived. */
  readonly arrivals: Arrival[] = [];
  /** Every socket close, with when it happened. */
  readonly closes: { readonly code: number; readonly at: number }[] = [];
  /** The node of the current (or last) connection. */
  node: string | undefined;
  /** Where the client started: the `since` it was given, or its first welcome's. */
  start: string | undefined;
  private readonly client: HeraldClient;

  private constructor(
    readonly userId: string,
    client: HeraldClient,
    since: string | undefined,
  ) {
    this.client = client;
    this.start = since;
    client.on('event', (event) => {
      this.received.push({ id: event.id, userId: event.user_id });
      this.arrivals.push({ kind: 'event', id: event.id, userId: event.user_id, n: (event.data as { n?: unknown } | null)?.n });
    });
    client.on('gap', (gap) => {
      this.gaps.push(gap);
      this.arrivals.push({ kind: 'gap', gap });
    });
    client.on('close', (info) => this.closes.push({ code: info.code, at: Date.now() }));
    client.on('welcome', (welcome) => {
      this.node = welcome.node;
      this.start ??= welcome.since;
    });
  }

  static open(userId: string, url: ConnectOptions['url'], extra: Partial<ConnectOptions> = {}): CheckedClient {
    const client = connect({
      url,
      getToken: () => signTestToken({ sub: userId }),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect: { initialDelayMs: 20, maxDelayMs: 250 },
      ...extra,
    });
    return new CheckedClient(userId, client, extra.since);
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
   * What is wrong with what this client received, given everything published for its user
   * (`uncertain`: the `n` of events that may also exist under an id the publisher never saw).
   * Empty when every event published after the client's start arrived exactly once and in
   * order, and every event that did not arrive lies inside a herald.gap that arrived between
   * its neighbours.
   */
  problems(published: readonly string[], uncertain: ReadonlySet<number> = new Set()): string[] {
    const stats = this.stats;
    const problems: string[] = [];
    if (stats.duplicatesDropped > 0) problems.push(`${this.userId}: the gateway sent ${stats.duplicatesDropped} duplicate or out-of-order events`);
    if (stats.holesDetected > 0) problems.push(`${this.userId}: the gateway sent ${stats.holesDetected} events with missing ones before them`);
    return [...problems, ...arrivalProblems(this.userId, this.start, this.arrivals, published, uncertain)];
  }
}

/**
 * What is wrong with `arrivals` for a client of `userId` that started at `start`, given the ids
 * published for the user in order. Every event after `start` must arrive once, in order, and
 * belong to the user; an event that does not arrive must lie inside a herald.gap that arrived
 * between its neighbours; an id never published is a failure (unless it is a copy of an event
 * whose publish outcome was once unknown, listed by `n` in `uncertain`).
 */
export function arrivalProblems(
  userId: string,
  start: string | undefined,
  arrivals: readonly Arrival[],
  published: readonly string[],
  uncertain: ReadonlySet<number> = new Set(),
): string[] {
  const label = userId;
  if (start === undefined) return [`${label}: never welcomed`];
  const problems: string[] = [];
  const expected = published.filter((id) => compareEventIds(id, start) > 0);
  const known = new Set(published);
  let next = 0; // index into `expected` of the next event owed
  let gapsSinceLast: GapFrame[] = [];
  let last: string | undefined;
  for (const arrival of arrivals) {
    if (arrival.kind === 'gap') {
      gapsSinceLast.push(arrival.gap);
      continue;
    }
    if (arrival.userId !== userId) problems.push(`${label}: received an event of ${JSON.stringify(arrival.userId)}`);
    if (last !== undefined && compareEventIds(arrival.id, last) <= 0) problems.push(`${label}: ${arrival.id} came after ${last}`);
    last = arrival.id;
    if (!known.has(arrival.id)) {
      if (typeof arrival.n === 'number' && uncertain.has(arrival.n)) continue; // a copy stored before Redis lost it
      problems.push(`${label}: received ${arrival.id}, which was never published for this user`);
      continue;
    }
    const at = expected.indexOf(arrival.id);
    if (at < 0) {
      problems.push(`${label}: received ${arrival.id}, published before the client's start ${start}`);
      continue;
    }
    const skipped = expected.slice(next, at).filter((id) => !gapsSinceLast.some((gap) => covers(gap, id)));
    if (skipped.length > 0) problems.push(`${label}: ${skipped.length} events missing before ${arrival.id} without a gap notice (first ${skipped[0]})`);
    next = Math.max(next, at + 1);
    gapsSinceLast = [];
  }
  const missing = expected.slice(next).filter((id) => !gapsSinceLast.some((gap) => covers(gap, id)));
  if (missing.length > 0) {
    problems.push(`${label}: the last ${missing.length} of ${expected.length} events never arrived (first ${missing[0]})`);
  }
  return problems;
}

function covers(gap: GapFrame, id: string): boolean {
  return compareEventIds(id, gap.since) > 0 && (gap.oldest === null || compareEventIds(id, gap.oldest) < 0);
}

/** Every problem of every client, against what was published for its user, and of the publisher. */
export function deliveryProblems(clients: readonly CheckedClient[], publisher: SteadyPublisher): string[] {
  return [
    ...publisher.problems(),
    ...clients.flatMap((client) => client.problems(publisher.published.get(client.userId) ?? [], publisher.uncertain.get(client.userId))),
  ];
}

/** True once every client holds every event published for its user (or a gap notice covering it). */
export function allDelivered(clients: readonly CheckedClient[], publisher: SteadyPublisher): boolean {
  return deliveryProblems(clients, publisher).length === 0;
}
