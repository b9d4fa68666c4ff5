import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GOLDEN_PATH_EVENT_TYPES, type EventEnvelope } from '@herald/protocol';
import { spawnWatched, type WatchedProcess } from '../support/child-process.js';
import { TestClient } from '../support/clients.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

const run = promisify(execFile);

/**
 * Runs each example as examples/README.md says, from the repository's root, against a real Redis
 * and gateway, and checks what a connected user receives.
 */
describe('examples', () => {
  let redis: RedisServer;
  let gateway: GatewayProcess;
  const started: WatchedProcess[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const build = run('npm', ['run', 'build', '-w', 'examples'], { cwd: REPO_ROOT }).catch((error: { stdout?: string }) => {
      throw new Error(`npm run build -w examples failed:\n${error.stdout ?? String(error)}`);
    });
    const servers = (async () => {
      redis = await startRedisServer();
      gateway = await startGatewayProcess({ REDIS_URL: redis.url, JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY });
    })();
    await Promise.all([build, servers]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    for (const { child, exited } of started) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    await gateway?.stop();
    await redis?.stop();
  });

  /** The environment of the README's shell: REDIS_URL and JWT_SECRET exported, nothing else of ours. */
  const shellEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    REDIS_URL: redis.url,
    JWT_SECRET: TEST_JWT_SECRET,
    ...extra,
  });

  function startExample(script: string, env: NodeJS.ProcessEnv): WatchedProcess {
    const example = spawnWatched(process.execPath, [script], { cwd: REPO_ROOT, env });
    started.push(example);
    return example;
  }

  async function waitForOutput(example: WatchedProcess, what: string, predicate: (output: string) => boolean): Promise<void> {
    await waitUntil(what, () => {
      if (example.child.exitCode !== null) throw new Error(`exited with ${example.child.exitCode}:\n${example.output()}`);
      return predicate(example.output());
    }).catch((error: Error) => {
      throw new Error(`${error.message}\noutput so far:\n${example.output()}`);
    });
  }

  async function connect(token: string): Promise<TestClient> {
    const client = await TestClient.connect(gateway.wsUrl, { token });
    clients.push(client);
    return client;
  }

  function expectGoldenPath(events: readonly EventEnvelope[], userId: string, runId: string): void {
    expect(events.map((event) => event.type)).toEqual([...GOLDEN_PATH_EVENT_TYPES]);
    for (const event of events) expect(event).toMatchObject({ user_id: userId, run_id: runId });
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
  }

  it('express-backend: signs a token the gateway accepts, streams a run, and finishes the runs in progress on SIGTERM', async () => {
    const port = await freePort();
    const backend = startExample('examples/dist/express-backend/server.js', shellEnv({ PORT: String(port) }));
    await waitForOutput(backend, 'the backend to listen', (output) => output.includes('listening on'));
    const base = `http://127.0.0.1:${port}`;
    const asUser = { 'x-demo-user': 'alice' };

    expect((await fetch(`${base}/herald-token`)).status).toBe(401);
    const tokenResponse = await fetch(`${base}/herald-token`, { headers: asUser });
    expect(tokenResponse.status).toBe(200);
    const client = await connect(await tokenResponse.text());
    expect(client.welcome.user_id).toBe('alice');

    const startRun = async () => {
      const response = await fetch(`${base}/runs`, { method: 'POST', headers: asUser });
      expect(response.status).toBe(202);
      return ((await response.json()) as { run_id: string }).run_id;
    };
    const first = await startRun();
    await client.waitForEvents(5);
    // A run in progress when the backend is told to stop still publishes all its events.
    const second = await startRun();
    backend.child.kill('SIGTERM');
    expect(await backend.exited).toBe(0);

    const events = await client.waitForEvents(10);
    expectGoldenPath(events.slice(0, 5), 'alice', first);
    expectGoldenPath(events.slice(5), 'alice', second);
  });

  it('queue-worker: a redelivered job publishes each event once, a refused job is dead-lettered without publishing', async () => {
    const jobs = redis.client();
    const client = await connect(await signTestToken({ sub: 'bob' }));
    const job = (id: string, prompt = 'Summarise my inbox') => JSON.stringify({ id, user_id: 'bob', prompt });
    const enqueue = (body: string) => run('redis-cli', ['-u', redis.url, 'LPUSH', 'agent-jobs', body]);
    try {
      // A job the worker had taken when it last stopped: delivered again when it starts.
      await jobs.lpush('agent-jobs:processing:worker-1', job('job-0'));
      const worker = startExample('examples/dist/queue-worker/worker.js', shellEnv());
      await enqueue(job('job-1'));
      await enqueue(job('job-1')); // the same job again: a redelivery
      const tooBig = job('job-big', 'x'.repeat(70_000)); // its first event would be over 64 KiB
      await enqueue(tooBig);
      await enqueue(job('job-2'));

      const lines = () =>
        worker
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{"job"'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      await waitForOutput(worker, 'the worker to finish job-2', () => lines().some((line) => line['job'] === 'job-2'));
      // Per-user order is publish order: anything the redelivery or job-big published arrived
      // before job-2's events.
      const events = await client.waitForEvents(15);
      expect(events.map((event) => `${event.run_id} ${event.type}`)).toEqual(
        ['job-0', 'job-1', 'job-2'].flatMap((runId) => GOLDEN_PATH_EVENT_TYPES.map((type) => `${runId} ${type}`)),
      );
      expect(new Set(events.map((event) => event.id)).size).toBe(15);

      expect(lines()).toEqual([
        { job: 'job-0', outcome: 'done', published: 5, duplicates: 0 },
        { job: 'job-1', outcome: 'done', published: 5, duplicates: 0 },
        { job: 'job-1', outcome: 'done', published: 0, duplicates: 5 },
        { job: 'job-big', outcome: 'dead_letter', reason: 'invalid_event', message: expect.any(String) },
        { job: 'job-2', outcome: 'done', published: 5, duplicates: 0 },
      ]);
      const deadLetters = (await jobs.lrange('agent-jobs:dead', 0, -1)).map((record) => JSON.parse(record) as Record<string, unknown>);
      expect(deadLetters).toEqual([expect.objectContaining({ job: tooBig, reason: 'invalid_event', code: 'payload_too_large' })]);
      expect(await jobs.llen('agent-jobs')).toBe(0);
      expect(await jobs.llen('agent-jobs:processing:worker-1')).toBe(0);

      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      jobs.disconnect();
    }
  });

  it('curl: publishes a run with idempotency keys, and running it again publishes nothing new', async () => {
    const client = await connect(await signTestToken({ sub: 'carol' }));
    const publishRun = async (runId: string) => {
      const { stdout } = await run('examples/curl/publish-run.sh', ['carol', runId], {
        cwd: REPO_ROOT,
        env: { PATH: process.env['PATH'], HOME: process.env['HOME'], HERALD_URL: gateway.httpUrl, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY },
        timeout: 20_000,
      });
      return stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { event_type: string; event_id: string; duplicate: boolean });
    };

    const first = await publishRun('run-42');
    expect(first.map((result) => [result.event_type, result.duplicate])).toEqual(GOLDEN_PATH_EVENT_TYPES.map((type) => [type, false]));
    const again = await publishRun('run-42');
    expect(again).toEqual(first.map((result) => expect.objectContaining({ event_id: result.event_id, duplicate: true })));
    await publishRun('run-43');

    // run-43 comes after the repeated run: anything it had published would have arrived first.
    const events = await client.waitForEvents(10);
    expect(events).toHaveLength(10);
    expectGoldenPath(events.slice(0, 5), 'carol', 'run-42');
    expectGoldenPath(events.slice(5), 'carol', 'run-43');
    expect(events.slice(0, 5).map((event) => event.id)).toEqual(first.map((result) => result.event_id));
  });
});
