import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { spawnWatched, type WatchedProcess } from '../../test/support/child-process.js';
import { REPO_ROOT } from '../../test/support/paths.js';
import { freePort } from '../../test/support/ports.js';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { delay, waitUntil } from '../../test/support/wait.js';

const HOST = fileURLToPath(new URL('./hosts/publish-loop.mjs', import.meta.url));
// The default user of a redis-server without a password takes any password: the URL can carry one.
const PASSWORD = 's3cret-pw-0815';
// The SDK's documented bound while Redis cannot be reached is connectTimeoutMs (default 2000 ms);
// the rest is room for timers on a busy machine.
const BOUND_MS = 2000 + 750;

interface HostPlan {
  readonly redisUrl: string;
  readonly runMs: number;
  readonly confirm?: boolean;
}

interface Rejection {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly count: number;
  readonly maxMs: number;
}

interface HostReport {
  readonly published: number;
  readonly lastSuccessAt: number | null;
  readonly closedAt: number | null;
  readonly rejections: Readonly<Record<string, Rejection>>;
  readonly onError: readonly { readonly name: string; readonly message: string; readonly failures: number }[];
}

interface HostRun {
  readonly host: WatchedProcess;
  stderr(): string;
  /** Waits for the host to exit by itself and reads its report. */
  finished(timeoutMs: number): Promise<{ readonly code: number | null; readonly report: HostReport }>;
}

function runHost(plan: HostPlan): HostRun {
  const host = spawnWatched(process.execPath, [HOST], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'], HOST_PLAN: JSON.stringify(plan) } });
  let stderr = '';
  host.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    host,
    stderr: () => stderr,
    async finished(timeoutMs) {
      const timer = setTimeout(() => host.child.kill('SIGKILL'), timeoutMs);
      const code = await host.exited;
      clearTimeout(timer);
      if (host.child.signalCode === 'SIGKILL') throw new Error(`the host did not exit within ${timeoutMs} ms of its start:\n${host.output()}`);
      const last = host.output().trim().split('\n').at(-1) ?? '';
      const report = (last.startsWith('{') ? JSON.parse(last) : undefined) as HostReport | undefined;
      if (!report) throw new Error(`the host exited with ${code} without a report:\n${host.output()}`);
      return { code, report };
    },
  };
}

/** A TCP listener that accepts connections and never answers, as a Redis that hangs (or the wrong service) would. */
async function startSilentServer(): Promise<Server & { readonly port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = server.close.bind(server);
  return Object.assign(server, {
    port,
    close: (callback?: (error?: Error) => void) => {
      for (const socket of sockets) socket.destroy();
      return close(callback);
    },
  });
}

/** What every host must show, whatever Redis did: it exited 0, wrote nothing on stderr, and every rejection was bounded and named Redis. */
function expectSurvived(run: HostRun, code: number | null, report: HostReport, address: string): void {
  expect({ code, stderr: run.stderr() }).toEqual({ code: 0, stderr: '' });
  const rejections = Object.values(report.rejections);
  for (const rejection of rejections) {
    expect(rejection).toMatchObject({ name: expect.stringMatching(/^HeraldPublish(Error|OutcomeUnknownError)$/) });
    expect({ message: rejection.message, withinBound: rejection.maxMs <= BOUND_MS }).toEqual({ message: rejection.message, withinBound: true });
    if (rejection.code !== 'closed') expect(rejection.message).toContain(`Redis at ${address}`);
  }
  for (const error of report.onError) expect(error).toMatchObject({ name: 'HeraldConnectionError', message: expect.stringContaining(`Redis at ${address}`) });
  expect(JSON.stringify(report)).not.toContain(PASSWORD);
}

function unreachableRejections(report: HostReport): number {
  return Object.values(report.rejections)
    .filter((rejection) => rejection.code === 'unreachable')
    .reduce((sum, rejection) => sum + rejection.count, 0);
}

describe('a host process publishing through the built SDK survives Redis outages', () => {
  let redis: RedisServer | undefined;
  let proxy: TcpProxy | undefined;
  let silent: (Server & { readonly port: number }) | undefined;

  afterEach(async () => {
    await proxy?.close();
    await redis?.stop();
    await new Promise((resolve) => (silent ? silent.close(resolve) : resolve(undefined)));
    proxy = undefined;
    redis = undefined;
    silent = undefined;
  });

  it('with nothing listening on the port: each publish rejects as unreachable within the bound, one onError report, exit 0', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const run = runHost({ redisUrl: `redis://default:${PASSWORD}@${address}`, runMs: 3500, confirm: true });
    const { code, report } = await run.finished(15_000);
    expectSurvived(run, code, report, address);
    expect(report.published).toBe(0);
    expect(unreachableRejections(report)).toBeGreaterThanOrEqual(3);
    expect(Object.values(report.rejections).map((rejection) => rejection.message)).toEqual([
      `the event was not published: Redis at ${address} could not be reached within 2000 ms (connect ECONNREFUSED)`,
    ]);
    expect(report.onError).toEqual([{ name: 'HeraldConnectionError', message: `cannot reach Redis at ${address}: connect ECONNREFUSED`, failures: 1 }]);
  });

  it('with a port that accepts connections and never answers: each publish rejects as unreachable within the bound, one onError report, exit 0', async () => {
    silent = await startSilentServer();
    const address = `127.0.0.1:${silent.port}`;
    const run = runHost({ redisUrl: `redis://default:${PASSWORD}@${address}`, runMs: 3500, confirm: true });
    const { code, report } = await run.finished(15_000);
    expectSurvived(run, code, report, address);
    expect(report.published).toBe(0);
    expect(unreachableRejections(report)).toBeGreaterThanOrEqual(3);
    expect(Object.values(report.rejections).map((rejection) => rejection.message)).toEqual([
      `the event was not published: Redis at ${address} could not be reached within 2000 ms (connected, but Redis has not answered)`,
    ]);
    // No error event tells of a silent Redis: the first publish that found it unusable does.
    expect(report.onError).toEqual([{ name: 'HeraldConnectionError', message: `cannot reach Redis at ${address}: connected, but Redis has not answered`, failures: 1 }]);
  });

  it('with a redis-server killed (SIGKILL) mid-stream, then back, its receipt subscription cut on the way: exit 0, and publishing again', async () => {
    redis = await startRedisServer();
    // Cuts the first SUBSCRIBE after the restart: the receipt subscriber's, on its new connection.
    let cutNextSubscribe = false;
    proxy = await startTcpProxy(redis.port, {
      onClientChunk: (connection, chunk) => {
        if (!cutNextSubscribe || !/subscribe/i.test(chunk.toString('latin1'))) return;
        cutNextSubscribe = false;
        connection.cut();
      },
    });
    const address = `127.0.0.1:${proxy.port}`;
    const run = runHost({ redisUrl: `redis://default:${PASSWORD}@${address}`, runMs: 9000, confirm: true });
    await waitUntil('the host to publish', () => run.host.output().includes('first-success'));
    await delay(500);
    await redis.stop();
    await delay(3000);
    cutNextSubscribe = true;
    await redis.restart();
    const restartedAt = Date.now();
    const { code, report } = await run.finished(20_000);
    expectSurvived(run, code, report, address);
    expect(cutNextSubscribe).toBe(false);
    expect(Object.keys(report.rejections)).not.toHaveLength(0);
    expect(report.lastSuccessAt).toBeGreaterThan(restartedAt);
    expect(report.onError.length).toBeLessThanOrEqual(4);
  });

  it('with close() called during an outage while publishes wait: they and later ones reject, and the host exits 0 by itself', async () => {
    redis = await startRedisServer();
    const address = `127.0.0.1:${redis.port}`;
    const run = runHost({ redisUrl: `redis://default:${PASSWORD}@${address}`, runMs: 6000, confirm: true });
    await waitUntil('the host to publish', () => run.host.output().includes('first-success'));
    await redis.stop();
    // Long enough for publishes to have begun after the kill: they wait for the connection now.
    await delay(3000);
    run.host.child.kill('SIGUSR2');
    const { code, report } = await run.finished(15_000);
    expectSurvived(run, code, report, address);
    const rejections = Object.values(report.rejections);
    expect(rejections.filter((rejection) => !['unreachable', 'closed', 'outcome_unknown'].includes(rejection.code))).toEqual([]);
    // Those waiting for the connection when close() was called, and those made after it.
    expect(rejections.filter((rejection) => rejection.code === 'closed').map((rejection) => rejection.message).sort()).toEqual([
      'publisher is closed',
      'the publisher was closed; the event was not published',
    ]);
  });
});
