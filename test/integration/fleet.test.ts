import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestClient } from '../support/clients.js';
import { startFleetScript, stopFleetScript, waitForFleetReady, type FleetScript } from '../support/fleet-script.js';
import { freePort } from '../support/ports.js';
import { killAll, processTree, stillRunning, type ProcessIdentity } from '../support/process-tree.js';
import { postPublish } from '../support/publish.js';
import { waitUntil } from '../support/wait.js';

/** Waits until the fleet exits or claims to be ready, whichever comes first. */
function settled(fleet: FleetScript): Promise<boolean> {
  return waitUntil('the fleet to exit or be ready', () => fleet.process.exitCode !== null || fleet.output().includes('Herald fleet ready'), 30_000);
}

/** Pids of the redis-server processes listening on these "host:port" addresses (Redis names its process after its address). */
function redisServerPids(addresses: readonly string[]): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const [program = '', address = ''] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0\s]+/);
        return program.endsWith('redis-server') && addresses.includes(address);
      } catch {
        return false; // it exited meanwhile
      }
    })
    .map(Number);
}

/** The fleet's own temporary directories under `dir` (the TMPDIR it was given). */
function fleetDirectories(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('herald-fleet-'));
}

/** The names in the fleet's "fleet: <name> stopped" lines, in the order it printed them. */
function stopOrder(output: string): string[] {
  return [...output.matchAll(/^fleet: (\S+) stopped \(/gm)].map((match) => match[1] as string);
}

/** The index of the first line of `output` containing all of `parts`. */
function lineOf(output: string, ...parts: readonly string[]): number {
  return output.split('\n').findIndex((line) => parts.every((part) => line.includes(part)));
}

/** Writes an executable `name` into a new directory that goes before PATH; returns that directory. */
function fakeBinary(name: string, lines: readonly string[]): string {
  const bin = mkdtempSync(join(tmpdir(), 'herald-fleet-'));
  writeFileSync(join(bin, name), ['#!/usr/bin/env node', ...lines, ''].join('\n'));
  chmodSync(join(bin, name), 0o755);
  return bin;
}

describe('npm run fleet', () => {
  it('starts Redis, gateway nodes and HAProxy, serves events through the load balancer, and on Ctrl-C drains the nodes, then stops HAProxy, then Redis, leaving nothing behind', async () => {
    const port = await freePort();
    const tmp = mkdtempSync(join(tmpdir(), 'herald-fleet-test-'));
    const fleet = startFleetScript(['--nodes', '2', '--port', String(port)], { viaNpm: true, env: { LOG_LEVEL: 'info', TMPDIR: tmp } });
    let processes: ProcessIdentity[] = [];
    try {
      await waitForFleetReady(fleet);
      processes = processTree(fleet.process.pid ?? 0);
      const commands = processes.map(({ command }) => command);
      expect(commands.filter((command) => command.includes('gateway/dist/main.js'))).toHaveLength(2);
      expect(commands.filter((command) => /^(redis-server|haproxy) /.test(command))).toHaveLength(2);
      expect(fleetDirectories(tmp)).toHaveLength(1);
      const output = fleet.output();
      const wsUrl = /(ws:\/\/127\.0\.0\.1:\d+\/ws)\?token=(\S+)/.exec(output);
      const publishKey = /authorization: Bearer (\S+)'/.exec(output)?.[1];
      const metricsUrls = [...output.matchAll(/metrics (http:\/\/\S+\/metrics)/g)].map((match) => match[1] as string);
      expect(wsUrl?.[1]).toBe(`ws://127.0.0.1:${port}/ws`);
      expect(metricsUrls).toHaveLength(2);

      const client = await TestClient.connect(wsUrl?.[1] ?? '', { token: wsUrl?.[2] ?? '', via: 'protocol' });
      const answer = await postPublish(`http://127.0.0.1:${port}`, { user_id: 'dev-user', type: 'agent_started', run_id: 'r' }, publishKey ?? '');
      expect(answer.status).toBe(200);
      const [event] = await client.waitForEvents(1);
      expect(event?.id).toBe(answer.body.event_id);
      const scrapes = await Promise.all(metricsUrls.map(async (url) => (await fetch(url)).text()));
      expect(scrapes.join('\n')).toMatch(/^herald_connections\{node="gateway-\d"\} 1$/m);

      // Ctrl-C in a terminal signals npm's whole process group.
      process.kill(fleet.target, 'SIGINT');
      expect((await client.waitForClose()).code).toBe(1001);
      expect(await fleet.exited).toBe(0);
      const stopped = fleet.output();
      expect(stopped).toContain('fleet: stopped');
      expect(stopped).not.toContain('second signal: exiting now');
      for (const node of ['gateway-1', 'gateway-2']) {
        expect(stopped.match(new RegExp(`^\\[${node}\\] .*"msg":"draining`, 'gm'))).toHaveLength(1);
        // Redis said goodbye only after this node had stopped.
        expect(lineOf(stopped, '[redis]', 'bye bye')).toBeGreaterThan(lineOf(stopped, `[${node}]`, '"msg":"gateway stopped"'));
      }
      const order = stopOrder(stopped);
      expect({ gateways: [...order.slice(0, 2)].sort(), then: order.slice(2) }).toEqual({ gateways: ['gateway-1', 'gateway-2'], then: ['haproxy', 'redis'] });
      await waitUntil('every process of the fleet to exit', () => stillRunning(processes).length === 0, 5000).catch(() => undefined);
      expect(stillRunning(processes)).toEqual([]);
      expect(fleetDirectories(tmp)).toEqual([]);
      await expect(fetch(`http://127.0.0.1:${port}/ws`)).rejects.toThrow();
    } finally {
      await stopFleetScript(fleet);
      killAll(processes);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('drains the nodes and stops HAProxy and Redis, leaving nothing behind, when the fleet script is killed', async () => {
    const port = await freePort();
    const tmp = mkdtempSync(join(tmpdir(), 'herald-fleet-test-'));
    const fleet = startFleetScript(['--nodes', '1', '--port', String(port)], { env: { LOG_LEVEL: 'info', TMPDIR: tmp } });
    let processes: ProcessIdentity[] = [];
    try {
      await waitForFleetReady(fleet);
      processes = processTree(fleet.process.pid ?? 0);
      expect(processes.map(({ command }) => command)).toContainEqual(expect.stringContaining('scripts/fleet-watchdog.mjs'));
      const wsUrl = /(ws:\/\/127\.0\.0\.1:\d+\/ws)\?token=(\S+)/.exec(fleet.output());
      const client = await TestClient.connect(wsUrl?.[1] ?? '', { token: wsUrl?.[2] ?? '', via: 'protocol' });

      fleet.process.kill('SIGKILL');
      expect((await client.waitForClose(15_000)).code).toBe(1001);
      await waitUntil('every process of the fleet to exit', () => stillRunning(processes).length === 0, 15_000).catch(() => undefined);
      expect(stillRunning(processes)).toEqual([]);
      expect(fleetDirectories(tmp)).toEqual([]);
      expect(fleet.output()).toContain('fleet: the fleet script is gone; stopping');
    } finally {
      await stopFleetScript(fleet);
      killAll(processes);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a --port another process listens on, before starting anything', async () => {
    // Answers like a gateway behind HAProxy would, so only a check of the port itself tells them apart.
    const squatter = createServer((_request, response) => response.writeHead(426).end());
    const port = await freePort();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const fleet = startFleetScript(['--nodes', '1', '--port', String(port)]);
    try {
      await settled(fleet);
      expect(fleet.output()).not.toContain('Herald fleet ready');
      expect(await fleet.exited).toBe(1);
      expect(fleet.output()).toBe(`fleet: --port ${port} is in use by another process: stop it or pick another port with --port\n`);
    } finally {
      await stopFleetScript(fleet);
      squatter.close();
    }
  });

  it('stops everything and exits non-zero when HAProxy exits before the fleet is ready', async () => {
    // An "haproxy" that answers on the port like a gateway for a second, then fails.
    const bin = fakeBinary('haproxy', [
      "if (process.argv[2] === '-v') process.exit(0);",
      "require('node:http').createServer((request, response) => response.writeHead(426).end()).listen(Number(process.env.HERALD_LB_PORT), '127.0.0.1');",
      'setTimeout(() => process.exit(1), 1000);',
    ]);
    const fleet = startFleetScript(['--nodes', '1', '--port', String(await freePort())], { path: `${bin}:${process.env['PATH'] ?? ''}` });
    try {
      await settled(fleet);
      expect(fleet.output()).not.toContain('Herald fleet ready');
      expect(await fleet.exited).toBe(1);
      expect(fleet.output()).toContain('fleet: haproxy exited (1) before the fleet was ready\n');
      expect(fleet.output()).toContain('fleet: stopped\n');
    } finally {
      await stopFleetScript(fleet);
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('stops everything when the npm process gets SIGTERM', async () => {
    const port = await freePort();
    const fleet = startFleetScript(['--nodes', '1', '--port', String(port)], { viaNpm: true });
    try {
      await waitForFleetReady(fleet);
      const metricsUrl = /metrics (http:\/\/\S+\/metrics)/.exec(fleet.output())?.[1] ?? '';
      fleet.process.kill('SIGTERM');
      expect(await fleet.exited).toBe(0);
      expect(fleet.output()).toContain('fleet: stopped');
      await expect(fetch(`http://127.0.0.1:${port}/ws`)).rejects.toThrow();
      await expect(fetch(metricsUrl)).rejects.toThrow();
    } finally {
      await stopFleetScript(fleet);
    }
  });

  describe('--cluster', () => {
    it('starts a Redis Cluster of 3 masters + 3 replicas for the gateways, serves events through it, and leaves no redis-server behind on Ctrl-C', async () => {
      const port = await freePort();
      const fleet = startFleetScript(['--cluster', '--nodes', '2', '--port', String(port)], { viaNpm: true });
      let addresses: string[] = [];
      try {
        await waitForFleetReady(fleet);
        const output = fleet.output();
        const cluster = /REDIS_CLUSTER_NODES=(\S+)\), data in (\S+):\n((?: {4}\S.*\n){6})/.exec(output);
        addresses = cluster?.[1]?.split(',') ?? [];
        const dir = cluster?.[2] ?? '';
        const nodes = (cluster?.[3] ?? '').trim().split('\n').map((line) => line.trim());
        expect(output).toContain('Herald fleet ready: 2 gateway node(s) behind HAProxy, a Redis Cluster of 3 masters + 3 replicas');
        expect(addresses).toHaveLength(6);
        expect(nodes.filter((line) => / master \d+-\d+$/.test(line))).toHaveLength(3);
        const replicasOf = nodes.map((line) => / replica of (\S+)$/.exec(line)?.[1]).filter((master) => master !== undefined);
        expect(new Set(replicasOf).size).toBe(3);
        expect(redisServerPids(addresses)).toHaveLength(6);
        expect(existsSync(dir)).toBe(true);

        const wsUrl = /(ws:\/\/127\.0\.0\.1:\d+\/ws)\?token=(\S+)/.exec(output);
        const publishKey = /authorization: Bearer (\S+)'/.exec(output)?.[1];
        const client = await TestClient.connect(wsUrl?.[1] ?? '', { token: wsUrl?.[2] ?? '', via: 'protocol' });
        const answer = await postPublish(`http://127.0.0.1:${port}`, { user_id: 'dev-user', type: 'agent_started', run_id: 'r' }, publishKey ?? '');
        expect(answer.status).toBe(200);
        const [event] = await client.waitForEvents(1);
        expect(event?.id).toBe(answer.body.event_id);

        process.kill(fleet.target, 'SIGINT');
        expect((await client.waitForClose()).code).toBe(1001);
        expect(await fleet.exited).toBe(0);
        expect(fleet.output()).toContain('fleet: stopped');
        expect(redisServerPids(addresses)).toEqual([]);
        expect(existsSync(dir)).toBe(false);
      } finally {
        await stopFleetScript(fleet);
        // Were the fleet killed rather than stopped, its nodes would outlive it.
        for (const pid of redisServerPids(addresses)) process.kill(pid, 'SIGKILL');
      }
    });

    it('refuses REDIS_URL in the environment, before starting anything', async () => {
      const fleet = startFleetScript(['--cluster', '--nodes', '1', '--port', String(await freePort())], {
        env: { REDIS_URL: 'redis://127.0.0.1:1' },
      });
      try {
        expect(await fleet.exited).toBe(1);
        expect(fleet.output()).toBe(
          'fleet: --cluster starts its own Redis Cluster and cannot use REDIS_URL: unset REDIS_URL, or drop --cluster to use that Redis\n',
        );
      } finally {
        await stopFleetScript(fleet);
      }
    });

    it('refuses a redis-server older than 7, before starting anything', async () => {
      // An old "redis-server" that only tells its version; it fails if asked to run a node.
      const bin = fakeBinary('redis-server', [
        "if (process.argv[2] === '--version' || process.argv[2] === '-v') console.log('Redis server v=6.2.14 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=0');",
        'else process.exit(1);',
      ]);
      const fleet = startFleetScript(['--cluster', '--nodes', '1', '--port', String(await freePort())], { path: `${bin}:${process.env['PATH'] ?? ''}` });
      try {
        expect(await fleet.exited).toBe(1);
        expect(fleet.output()).toBe('fleet: --cluster needs redis-server 7.0 or later (sharded pub/sub, which Herald uses on a cluster); this one is 6.2\n');
      } finally {
        await stopFleetScript(fleet);
        rmSync(bin, { recursive: true, force: true });
      }
    });
  });
});
