// A worker that runs agent jobs from a Redis list and streams each job's events to its user.
//
//   REDIS_URL=redis://127.0.0.1:6379 node examples/dist/queue-worker/worker.js
//   redis-cli LPUSH agent-jobs '{"id":"job-1","user_id":"dev-user","prompt":"Summarise my inbox"}'
//
// A queue may deliver a job more than once (a worker dies mid-job, a producer retries): every
// event is published with an idempotency key made of the job id and the step, so a redelivered
// job runs again but publishes nothing twice. One JSON line per job goes to stdout.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  createPublisher,
  HeraldPublishError,
  HeraldPublishOutcomeUnknownError,
  HeraldValidationError,
  type BroadcastResult,
  type PublishOptions,
} from '@herald/publisher-sdk';

const redisUrl = process.env['REDIS_URL'];
if (!redisUrl) {
  console.error('REDIS_URL is required');
  process.exit(1);
}
const queue = process.env['QUEUE'] ?? 'agent-jobs';
// Each worker has its own processing list, so that on restart it takes back only its own jobs.
const processing = `${queue}:processing:${process.env['WORKER_ID'] ?? 'worker-1'}`;
const deadLetters = `${queue}:dead`;
const MAX_ATTEMPTS = 5;

const herald = createPublisher({
  redisUrl,
  // Redis remembers a key this long: a job redelivered later would publish its events again.
  // Keep it above the longest a job can wait to be redelivered.
  idempotencyWindowSeconds: 3600,
});
// BLMOVE blocks its connection: the queue gets a connection of its own.
const jobs = new Redis(redisUrl);

interface Job {
  readonly id: string;
  readonly user_id: string;
  readonly prompt: string;
}

/** The job cannot succeed as it is (or may have half-succeeded): it goes to the dead-letter list. */
class DeadLetter extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Nothing is wrong with the job, but Herald could not take its events now: it goes back on the queue. */
class Release extends Error {}

function parseJob(raw: string): Job {
  let job: Partial<Record<keyof Job, unknown>>;
  try {
    job = JSON.parse(raw) as typeof job;
  } catch {
    throw new DeadLetter('invalid_job', 'not JSON');
  }
  if (typeof job.id !== 'string' || typeof job.user_id !== 'string' || typeof job.prompt !== 'string') {
    throw new DeadLetter('invalid_job', 'a job needs string fields id, user_id and prompt');
  }
  return job as Job;
}

const log = (line: Record<string, unknown>) => console.log(JSON.stringify(line));

/** Publishes one step of a job, retrying what is safe to retry. */
async function publishStep(
  publish: (options: PublishOptions) => Promise<BroadcastResult>,
  idempotencyKey: string,
): Promise<BroadcastResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await publish({ idempotencyKey });
    } catch (error) {
      if (error instanceof HeraldValidationError) {
        // Bad input (an id Herald refuses, an event over its size limit…): a retry fails the same way.
        throw new DeadLetter('invalid_event', error.message, { code: error.code, field: error.field });
      }
      if (error instanceof HeraldPublishOutcomeUnknownError) {
        // Redis may have stored the event. Publishing again with the same key before retryBefore
        // stores it exactly once; after that, or once we stop trying, nobody knows whether the
        // user got it: record it for someone to decide.
        if (attempt === MAX_ATTEMPTS || Date.now() >= error.retryBefore.getTime()) {
          throw new DeadLetter('outcome_unknown', error.message, {
            idempotency_key: error.idempotencyKey,
            retry_before: error.retryBefore.toISOString(),
          });
        }
      } else if (error instanceof HeraldPublishError && error.code === 'redis_error') {
        // Certainly not published (the SDK already retried): back off, then try again.
        if (attempt === MAX_ATTEMPTS) throw new Release(error.message);
      } else {
        throw error;
      }
      await sleep(Math.min(250 * 2 ** (attempt - 1), 4000));
    }
  }
}

/** Stands in for the agent; returns how many of the job's events were new. */
async function runJob(job: Job): Promise<{ published: number; duplicates: number }> {
  const { id: runId, user_id: userId, prompt } = job;
  const results: BroadcastResult[] = [];
  // Each step is awaited before the next: Redis stores a user's events in the order they arrive.
  const step = async (name: string, publish: (options: PublishOptions) => Promise<BroadcastResult>) => {
    results.push(await publishStep(publish, `${job.id}:${name}`));
    await sleep(100); // the agent at work
  };
  await step('started', (options) => herald.agentStarted(userId, runId, { prompt }, options));
  await step('thinking', (options) => herald.agentThinking(userId, runId, { thought: 'Reading the latest messages first' }, options));
  await step('tool_executing', (options) => herald.toolExecuting(userId, runId, { tool: 'inbox_search', input: { unread: true } }, options));
  await step('tool_completed', (options) => herald.toolCompleted(userId, runId, { tool: 'inbox_search', output: { messages: 12 } }, options));
  await step('completed', (options) => herald.agentCompleted(userId, runId, { answer: '12 unread messages, 2 need a reply' }, options));
  // duplicate: true means an earlier delivery of this job had already published the event.
  const duplicates = results.filter((result) => result.duplicate).length;
  return { published: results.length - duplicates, duplicates };
}

async function handle(raw: string): Promise<void> {
  let jobId: string | undefined;
  try {
    const job = parseJob(raw);
    jobId = job.id;
    const counts = await runJob(job);
    await jobs.lrem(processing, 1, raw);
    log({ job: jobId, outcome: 'done', ...counts });
  } catch (error) {
    if (error instanceof DeadLetter) {
      const record = { job: raw, reason: error.reason, message: error.message, ...error.details, at: new Date().toISOString() };
      await jobs.multi().lpush(deadLetters, JSON.stringify(record)).lrem(processing, 1, raw).exec();
      log({ job: jobId, outcome: 'dead_letter', reason: error.reason, message: error.message });
    } else if (error instanceof Release) {
      // Redelivered later: the steps it already published are then recognised by their keys.
      await jobs.multi().lrem(processing, 1, raw).lpush(queue, raw).exec();
      log({ job: jobId, outcome: 'released', message: error.message });
      await sleep(1000);
    } else {
      throw error;
    }
  }
}

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => (stopping = true));

// Jobs this worker had taken when it last stopped (crashed, killed, redeployed) are delivered again.
let recovered = 0;
while ((await jobs.lmove(processing, queue, 'LEFT', 'RIGHT')) !== null) recovered += 1;
log({ worker: processing, queue, recovered });

while (!stopping) {
  try {
    // Takes the oldest job and keeps it in the processing list until it is done with.
    const raw = await jobs.blmove(queue, processing, 'RIGHT', 'LEFT', 1);
    if (raw !== null) await handle(raw);
  } catch (error) {
    // The job, if any, stays in the processing list and is recovered when the worker restarts.
    log({ outcome: 'error', message: (error as Error).message });
    await sleep(1000);
  }
}
// The job in hand is finished; the publisher answers what it was handed, then closes.
await herald.close();
await jobs.quit();
