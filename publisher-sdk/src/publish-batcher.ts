import type { Redis } from 'ioredis';
import { NoAnswerError } from './attempts.js';
import {
  runPublishScript,
  type PublishBatchSettings,
  type ScriptEvent,
  type ScriptPublishReply,
} from './storage/index.js';

export interface BatchLimits {
  /** Most events in one script call. */
  readonly events: number;
  /** A batch takes no further event once its bodies hold this many characters. */
  readonly bodyChars: number;
}

// A batch of 64 runs ~1 ms in Redis on a small machine: long enough to pay the call's fixed cost
// once for many events, short enough not to hold up other clients.
export const DEFAULT_BATCH_LIMITS: BatchLimits = { events: 64, bodyChars: 1 << 20 };

interface Pending {
  readonly event: ScriptEvent;
  readonly resolve: (reply: ScriptPublishReply) => void;
  readonly reject: (error: unknown) => void;
}

/** Where a batch goes and what its events share: one connection (one server), one set of settings. */
export interface BatchTarget {
  readonly redis: Redis;
  readonly settings: PublishBatchSettings;
}

function groupOf({ settings }: BatchTarget): string {
  return `${settings.run} ${settings.maxEvents} ${settings.ttlSeconds} ${settings.positionTtlSeconds}`;
}

class Batch {
  readonly pending: Pending[] = [];
  bodyChars = 0;
  sent = false;

  constructor(
    readonly target: BatchTarget,
    readonly group: string,
  ) {}
}

/**
 * Gathers the publishes handed over in one turn of the event loop into one call of the publish
 * script per connection (per server), so that Redis's per-call cost, the SDK's per-command work and
 * the socket write are paid once per batch rather than once per event. Each event keeps its own
 * answer: a duplicate, a refusal or a lost reply is that event's alone to handle (and retry).
 */
export class PublishBatcher {
  /** Batches being gathered, by connection and then by group (groupOf). */
  private readonly gathering = new Map<Redis, Map<string, Batch>>();
  /** Batches sent and not yet answered (nor past their deadline). */
  private readonly unanswered = new Set<Promise<void>>();

  constructor(
    /** How long a batch waits for Redis's answer before its events' outcomes are unknown (NoAnswerError). */
    private readonly deadlineMs: number,
    /** Publish by SPUBLISH (Redis Cluster) rather than PUBLISH. */
    private readonly sharded: boolean,
    private readonly limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  ) {}

  /** Publishes `event` in the next batch to `target`; the answer is this event's (see runPublishScript). */
  submit(target: BatchTarget, event: ScriptEvent): Promise<ScriptPublishReply> {
    const batch = this.batchFor(target, event);
    return new Promise((resolve, reject) => {
      batch.pending.push({ event, resolve, reject });
      batch.bodyChars += event.body.length;
      if (batch.pending.length >= this.limits.events || batch.bodyChars >= this.limits.bodyChars) this.send(batch);
    });
  }

  /**
   * Sends the batches being gathered now and resolves once every batch sent has been answered or
   * has passed its deadline: the connection may then close without cutting off an answer (nor a
   * script sent in full after Redis answered that it did not know it).
   */
  async flush(): Promise<void> {
    for (const batches of [...this.gathering.values()]) for (const batch of [...batches.values()]) this.send(batch);
    await Promise.all(this.unanswered);
  }

  private batchFor(target: BatchTarget, event: ScriptEvent): Batch {
    const group = groupOf(target);
    let batches = this.gathering.get(target.redis);
    const current = batches?.get(group);
    if (current && current.bodyChars + event.body.length <= this.limits.bodyChars) return current;
    if (current) this.send(current);
    const batch = new Batch(target, group);
    if (!batches) {
      batches = new Map();
      this.gathering.set(target.redis, batches);
    }
    batches.set(group, batch);
    // After every promise continuation of this turn: the publishes made together travel together.
    process.nextTick(() => this.send(batch));
    return batch;
  }

  private send(batch: Batch): void {
    if (batch.sent) return;
    batch.sent = true;
    const { redis, settings } = batch.target;
    const batches = this.gathering.get(redis);
    if (batches?.get(batch.group) === batch) {
      batches.delete(batch.group);
      if (batches.size === 0) this.gathering.delete(redis);
    }
    const { pending } = batch;
    let answered = false;
    let done = (): void => {};
    const waiting = new Promise<void>((resolve) => (done = resolve));
    this.unanswered.add(waiting);
    void waiting.then(() => this.unanswered.delete(waiting));
    /** Settles the batch once: the first of its answer, its failure and its deadline wins. */
    const settle = (each: (item: Pending, index: number) => void): void => {
      if (answered) return;
      answered = true;
      clearTimeout(deadline);
      done();
      pending.forEach(each);
    };
    const deadline = setTimeout(() => {
      const error = new NoAnswerError(`no answer from Redis to the publish script within ${this.deadlineMs} ms`);
      settle((item) => item.reject(error));
    }, this.deadlineMs);
    runPublishScript(
      redis,
      settings,
      pending.map((item) => item.event),
      this.sharded,
    ).then(
      (replies) =>
        settle((item, index) => {
          const reply = replies[index];
          if (reply === undefined || reply instanceof Error) item.reject(reply ?? new Error('no answer for this event in the batch'));
          else item.resolve(reply);
        }),
      (error: unknown) => settle((item) => item.reject(error)),
    );
  }
}
