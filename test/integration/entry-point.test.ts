import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnWatched } from '../support/child-process.js';
import { TestClient } from '../support/clients.js';
import { runGatewayToExit, startGatewayProcess } from '../support/gateway-process.js';
import { DEFAULT_RETENTION, readRetention, storageLayout } from '@herald/publisher-sdk/storage';
import { REPO_ROOT } from '../support/paths.js';
import { killAll, processTree, stillRunning, type ProcessIdentity } from '../support/process-tree.js';
import { freePort } from '../support/ports.js';
import { postPublish } from '../support/publish.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';
import { delay, waitUntil } from '../support/wait.js';

describe('gateway entry point', () => {
  it('refuses a bad setting with exit code 78 and one line naming the variable', async () => {
    const result = await runGatewayToExit({ PORT: 'eighty' });
    expect(result.code).toBe(78);
    expect(result.output).toBe('herald: configuration error: PORT must be an integer from 0 to 65535 (got "eighty")\n');
  });

  it.each(['redis://', 'redis:///0?password=hunter2'])('refuses REDIS_URL=%p, which has no host, in one line that hides the URL', async (value) => {
    const result = await runGatewayToExit({ REDIS_URL: value, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', ADMIN_PORT: '0' });
    expect(result.code).toBe(78);
    expect(result.output).toBe('herald: configuration error: REDIS_URL must include a host\n');
  });

  it.each(['production', 'Production', 'prod', 'production ', ''])(
    'refuses to start with NODE_ENV=%p without a JWT key, and prints no development credentials',
    async (value) => {
      const result = await runGatewayToExit({ NODE_ENV: value });
      expect(result.code).toBe(78);
      expect(result.output).toBe(
        `herald: configuration error: JWT_SECRET is required when NODE_ENV is ${JSON.stringify(value)} ` +
          '(or set JWT_PUBLIC_KEY or JWT_JWKS_URL; development defaults need NODE_ENV unset, development or test)\n',
      );
    },
  );

  it.each(['PORT', 'ADMIN_PORT'])('refuses a %s that another process already listens on, in one line', async (variable) => {
    const first = await startGatewayProcess({ JWT_SECRET: TEST_JWT_SECRET });
    try {
      const taken = variable === 'PORT' ? first.port : Number(new URL(first.adminUrl).port);
      const result = await runGatewayToExit({
        JWT_SECRET: TEST_JWT_SECRET,
        PORT: variable === 'PORT' ? String(taken) : '0',
        ADMIN_PORT: variable === 'ADMIN_PORT' ? String(taken) : '0',
      });
      expect(result.code).toBe(1);
      const lines = result.output.trim().split('\n');
      const hostVariable = variable === 'PORT' ? 'HOST' : 'ADMIN_HOST';
      expect(lines.at(-1)).toBe(`herald: cannot listen on ${hostVariable}=127.0.0.1 ${variable}=${taken}: the address is in use or not available`);
      expect(result.output).not.toMatch(/\n\s+at /);
      expect((await fetch(`${first.adminUrl}/readyz`)).status).toBe(200);
    } finally {
      await first.stop('SIGKILL');
    }
  });

  it.each(['PORT', 'ADMIN_PORT'])(
    "leaves the fleet's retention policy in Redis untouched when it cannot listen on its %s",
    async (variable) => {
      const redis = await startRedisServer();
      const first = await startGatewayProcess({ JWT_SECRET: TEST_JWT_SECRET, REDIS_URL: redis.url });
      const client = redis.client();
      try {
        const layout = storageLayout();
        const before = await readRetention(client, layout);
        expect(before).toEqual(DEFAULT_RETENTION);
        const taken = variable === 'PORT' ? first.port : Number(new URL(first.adminUrl).port);
        const result = await runGatewayToExit({
          JWT_SECRET: TEST_JWT_SECRET,
          REDIS_URL: redis.url,
          HISTORY_TTL_SECONDS: '1',
          HISTORY_POSITION_TTL_SECONDS: '1',
          HISTORY_MAX_EVENTS: '10',
          PORT: variable === 'PORT' ? String(taken) : '0',
          ADMIN_PORT: variable === 'ADMIN_PORT' ? String(taken) : '0',
        });
        expect(result.code).toBe(1);
        expect(await readRetention(client, layout)).toEqual(before);
      } finally {
        client.disconnect();
        await first.stop('SIGKILL');
        await redis.stop();
      }
    },
  );

  it.each([
    ['HOST', 'PORT'],
    ['ADMIN_HOST', 'ADMIN_PORT'],
  ])('refuses %s=not.a.host.invalid in one line that also names %s', async (hostVariable, portVariable) => {
    const port = await freePort();
    const result = await runGatewayToExit({
      JWT_SECRET: TEST_JWT_SECRET,
      PORT: '0',
      ADMIN_PORT: '0',
      [hostVariable]: 'not.a.host.invalid',
      [portVariable]: String(port),
    });
    expect(result.code).toBe(1);
    const lines = result.output.trim().split('\n');
    expect(lines.at(-1)).toBe(`herald: cannot listen on ${hostVariable}=not.a.host.invalid ${portVariable}=${port}: the address is in use or not available`);
    expect(result.output).not.toMatch(/\n\s+at /);
  });

  it('refuses to start on REDIS_CLUSTER_NODES naming a Redis without cluster mode, in one line', async () => {
    const redis = await startRedisServer();
    try {
      const result = await runGatewayToExit({ REDIS_CLUSTER_NODES: `127.0.0.1:${redis.port}`, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', ADMIN_PORT: '0' });
      expect(result.code).toBe(1);
      expect(result.output).toContain(
        `herald: cannot start: REDIS_CLUSTER_NODES names 127.0.0.1:${redis.port}, a Redis without cluster mode (ERR This instance has cluster support disabled): set REDIS_URL for one Redis instead`,
      );
    } finally {
      await redis.stop();
    }
  });

  it("refuses to run on uWebSockets.js's JavaScript fallback", async () => {
    const result = await runGatewayToExit({ UWS_USE_FALLBACK: '1', JWT_SECRET: TEST_JWT_SECRET, PORT: '0' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('Herald runs only on the native uWebSockets.js binding');
  });

  it('starts a development node that prints a working token, publish command and demo page', async () => {
    const node = await startGatewayProcess({ LOG_LEVEL: 'info' });
    try {
      const output = node.output();
      const token = /\/ws\?token=(\S+)/.exec(output)?.[1];
      const publishKey = /authorization: Bearer (\S+)'/.exec(output)?.[1];
      expect(token).toBeDefined();
      expect(publishKey).toBeDefined();
      expect(output).toContain('embedded in-memory broker');
      const demo = /Demo page \(live agent runs of "dev-user"\): (\S+)/.exec(output)?.[1];
      expect(demo).toBe(`http://127.0.0.1:${node.port}/`);
      expect((await fetch(demo ?? '')).headers.get('content-type')).toMatch(/^text\/html/);
      const client = await TestClient.connect(node.wsUrl, { token: token ?? '', via: 'query' });
      expect(client.welcome.user_id).toBe('dev-user');
      const published = await postPublish(node.httpUrl, { user_id: 'dev-user', type: 'agent_started', run_id: 'run-1' }, publishKey ?? '');
      expect(published.status).toBe(200);
      await client.waitForEvents(1);
      expect(await node.stop('SIGTERM')).toBe(0);
      expect((await client.waitForClose()).code).toBe(1001);
    } finally {
      await node.stop('SIGKILL');
    }
  });

  it('prints a development token and publish command with bracketed URLs for an IPv6 HOST', async () => {
    const node = await startGatewayProcess({ HOST: '::1', ADMIN_HOST: '127.0.0.1' });
    try {
      const output = node.output();
      const printedWs = /(ws:\S+\/ws)\?token=(\S+)/.exec(output);
      const printedHttp = /curl -X POST (\S+)\/v1\/publish -H 'authorization: Bearer (\S+)'/.exec(output);
      expect(printedWs?.[1]).toBe(`ws://[::1]:${node.port}/ws`);
      expect(printedHttp?.[1]).toBe(`http://[::1]:${node.port}`);
      const client = await TestClient.connect(printedWs?.[1] ?? '', { token: printedWs?.[2] ?? '', via: 'query' });
      const published = await postPublish(printedHttp?.[1] ?? '', { user_id: 'dev-user', type: 'agent_started', run_id: 'run-1' }, printedHttp?.[2] ?? '');
      expect(published.status).toBe(200);
      await client.waitForEvents(1);
      await client.close();
    } finally {
      await node.stop('SIGKILL');
    }
  });

  it('warns of a misspelled variable, naming the one it most likely means', async () => {
    const node = await startGatewayProcess({ JWT_SECRET: TEST_JWT_SECRET, REDIS_ULR: 'redis://127.0.0.1:1' }, { waitFor: 'healthz' });
    try {
      await waitUntil('the warning', () => node.output().includes('unknown variable REDIS_ULR is ignored: did you mean REDIS_URL?'));
    } finally {
      await node.stop('SIGKILL');
    }
  });

  it('logs JSON lines with connection lifecycle at debug, and never a token or a payload', async () => {
    const node = await startGatewayProcess({ LOG_LEVEL: 'debug', JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY });
    try {
      const token = await signTestToken({ sub: 'logged' });
      const client = await TestClient.connect(node.wsUrl, { token });
      const expired = await signTestToken({ sub: 'logged', expiresIn: -5 });
      await (await TestClient.open(node.wsUrl, { token: expired })).waitForClose();
      await postPublish(node.httpUrl, { user_id: 'logged', type: 'agent_started', data: { secret: 'payload-marker-42' } });
      await client.waitForEvents(1);
      await client.close();
      await waitUntil('the close to be logged', () => node.output().includes('websocket closed'));
      const lines = node.output().trim().split('\n');
      const records = lines.map((line) => JSON.parse(line) as { level: string; msg: string; node: string });
      expect(records.every((record) => typeof record.level === 'string' && record.node === node.nodeId)).toBe(true);
      expect(records.map((record) => record.msg)).toEqual(
        expect.arrayContaining(['gateway listening', 'development demo page (live agent runs of dev-user)', 'websocket opened', 'token refused', 'websocket closed']),
      );
      for (const secret of [token, expired, token.split('.')[2] as string, 'payload-marker-42', TEST_PUBLISH_KEY]) {
        expect(node.output()).not.toContain(secret);
      }
    } finally {
      await node.stop('SIGKILL');
    }
  });

  it('stops at once on a signal that comes later than the first, but not on a repeat right after it', async () => {
    const node = await startGatewayProcess({ LOG_LEVEL: 'info', JWT_SECRET: TEST_JWT_SECRET, DRAIN_DELAY_MS: '60000' });
    try {
      node.process.kill('SIGTERM');
      await waitUntil('the drain to start', () => node.output().includes('draining'));
      node.process.kill('SIGTERM');
      await delay(1200);
      expect(node.process.exitCode).toBeNull();
      expect(node.output()).not.toContain('second signal: exiting now');
      expect(await node.stop('SIGTERM')).toBe(1);
      expect(node.output()).toContain('second signal: exiting now');
    } finally {
      await node.stop('SIGKILL');
    }
  });

  it('starts unready when Redis is unreachable, refuses publishes at once, becomes ready once Redis is up, and then notices Redis hang', async () => {
    const redisPort = await freePort();
    const node = await startGatewayProcess(
      { REDIS_URL: `redis://127.0.0.1:${redisPort}`, JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY },
      { waitFor: 'healthz' },
    );
    let redis: RedisServer | undefined;
    try {
      const notReady = await fetch(`${node.adminUrl}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ status: 'not_ready', broker: { connected: false } });
      await delay(1500); // down for longer than a blip
      const started = Date.now();
      const refused = await postPublish(node.httpUrl, { user_id: 'early', type: 'agent_started' });
      expect({ status: refused.status, fast: Date.now() - started < 500 }).toEqual({ status: 503, fast: true });
      redis = await startRedisServer({ port: redisPort });
      await waitUntil('the node to become ready', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 200, 15_000);
      // Its connections are watched like those of a node that found Redis at start.
      redis.signal('SIGSTOP');
      try {
        await waitUntil('the node to notice Redis hang', async () => (await fetch(`${node.adminUrl}/readyz`)).status === 503, 3000, 50);
      } finally {
        redis.signal('SIGCONT');
      }
      expect(await node.stop('SIGTERM')).toBe(0);
    } finally {
      await node.stop('SIGKILL');
      await redis?.stop();
    }
  });
});

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The npm on PATH itself, so that a stand-in put before it is used only by what npm runs. */
function npmOnPath(): string {
  const found = (process.env['PATH'] ?? '').split(':').map((dir) => join(dir, 'npm')).find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error('npm is not on PATH');
  return found;
}

describe('npm start', () => {
  interface Run {
    readonly npm: ChildProcess;
    readonly pid: number;
    readonly exited: Promise<number | null>;
    readonly ports: readonly number[];
    output(): string;
  }

  interface Started extends Run {
    readonly client: TestClient;
    /** npm and every process under it, seen once the gateway was ready. */
    readonly processes: readonly ProcessIdentity[];
  }

  async function npmStart(options: { readonly path?: string; readonly env?: Readonly<Record<string, string>> } = {}): Promise<Run> {
    const [port, adminPort] = [await freePort(), await freePort()];
    // A process group of its own, as in a terminal: a signal to the group reaches nothing else.
    const { child: npm, pid, exited, output } = spawnWatched(npmOnPath(), ['start'], {
      cwd: REPO_ROOT,
      detached: true,
      env: {
        PATH: options.path ?? process.env['PATH'],
        HOME: process.env['HOME'],
        HOST: '127.0.0.1',
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        LOG_LEVEL: 'info',
        DRAIN_DELAY_MS: '200',
        DRAIN_SPREAD_MS: '0',
        DRAIN_GRACE_MS: '1000',
        ...options.env,
      },
    });
    return { npm, pid, exited, ports: [port, adminPort], output };
  }

  async function npmStartReady(env: Readonly<Record<string, string>> = {}): Promise<Started> {
    const run = await npmStart({ env });
    try {
      await waitUntil('npm start to serve a ready gateway', async () => {
        if (run.npm.exitCode !== null) throw new Error(`npm start exited with ${run.npm.exitCode}:\n${run.output()}`);
        return (await fetch(`http://127.0.0.1:${run.ports[1]}/readyz`).catch(() => undefined))?.status === 200;
      }, 30_000);
      const token = /\/ws\?token=(\S+)/.exec(run.output())?.[1] ?? '';
      const client = await TestClient.connect(`ws://127.0.0.1:${run.ports[0]}/ws`, { token, via: 'query' });
      return { ...run, client, processes: processTree(run.pid) };
    } catch (error) {
      killAll(processTree(run.pid));
      throw error;
    }
  }

  async function expectAllGone(run: Run, processes: readonly ProcessIdentity[]): Promise<void> {
    await waitUntil('every process of npm start to exit', () => stillRunning(processes).length === 0, 10_000).catch(() => undefined);
    expect(stillRunning(processes)).toEqual([]);
    for (const port of run.ports) expect(await canListen(port)).toBe(true);
  }

  async function expectDrainedAndGone(started: Started): Promise<void> {
    expect((await started.client.waitForClose()).code).toBe(1001);
    await expectAllGone(started, started.processes);
    expect(started.output()).toContain('"msg":"gateway stopped"');
    expect(started.output()).not.toContain('second signal: exiting now');
  }

  function cleanUp(started: Started): void {
    killAll(started.processes);
    started.client.terminate();
  }

  it.each(['SIGINT', 'SIGTERM'] as const)('drains the gateway, leaves nothing running and exits 0 when %s reaches the npm process alone', async (signal) => {
    const started = await npmStartReady();
    try {
      expect(started.processes.map(({ command }) => command)).toContainEqual(expect.stringContaining('gateway/dist/main.js'));
      process.kill(started.pid, signal);
      await expectDrainedAndGone(started);
      expect(await started.exited).toBe(0);
    } finally {
      cleanUp(started);
    }
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'drains once when %s reaches its whole process group (Ctrl-C in a terminal, timeout)',
    async (signal) => {
      const started = await npmStartReady();
      try {
        process.kill(-started.pid, signal);
        await expectDrainedAndGone(started);
        expect(await started.exited).toBe(0);
      } finally {
        cleanUp(started);
      }
    },
  );

  it('drains the gateway and leaves nothing running when the npm process is killed', async () => {
    // A drain long enough that a second hangup would cut it short.
    const started = await npmStartReady({ DRAIN_DELAY_MS: '2500' });
    try {
      process.kill(started.pid, 'SIGKILL');
      await expectDrainedAndGone(started);
    } finally {
      cleanUp(started);
    }
  });

  it('drains the gateway and leaves nothing running when the launcher under npm is killed', async () => {
    const started = await npmStartReady();
    try {
      const launcher = started.processes.find(({ command }) => command.includes('scripts/launch.mjs'));
      expect(launcher).toBeDefined();
      process.kill(launcher?.pid ?? 0, 'SIGKILL');
      await expectDrainedAndGone(started);
    } finally {
      cleanUp(started);
    }
  });

  it('stops the build, starts no gateway and leaves nothing running when SIGTERM reaches npm during the build', async () => {
    // A build that takes a minute, run the way npm runs one: by a shell under the npm process.
    const bin = mkdtempSync(join(tmpdir(), 'herald-npm-start-'));
    writeFileSync(join(bin, 'npm'), ['#!/bin/sh', 'echo "slow build started"', "sh -c 'sleep 60; true'", ''].join('\n'));
    chmodSync(join(bin, 'npm'), 0o755);
    const run = await npmStart({ path: `${bin}:${process.env['PATH'] ?? ''}` });
    let processes: ProcessIdentity[] = [];
    try {
      await waitUntil('the build to be under way', () => {
        processes = processTree(run.pid);
        return processes.some(({ command }) => command.startsWith('sleep '));
      }, 30_000);
      process.kill(run.pid, 'SIGTERM');
      await expectAllGone(run, processes);
      expect(await run.exited).toBeNull();
      expect(run.npm.signalCode).toBe('SIGTERM');
      expect(run.output()).toContain('slow build started');
      expect(run.output()).not.toContain('gateway listening');
    } finally {
      killAll(processes);
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
