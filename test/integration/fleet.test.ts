import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestClient } from '../support/clients.js';
import { startFleetScript, stopFleetScript, waitForFleetReady, type FleetScript } from '../support/fleet-script.js';
import { freePort } from '../support/ports.js';
import { postPublish } from '../support/publish.js';
import { waitUntil } from '../support/wait.js';

/** Waits until the fleet exits or claims to be ready, whichever comes first. */
function settled(fleet: FleetScript): Promise<boolean> {
  return waitUntil('the fleet to exit or be ready', () => fleet.process.exitCode !== null || fleet.output().includes('Herald fleet ready'), 30_000);
}

describe('npm run fleet', () => {
  it('starts Redis, gateway nodes and HAProxy, serves events through the load balancer, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const fleet = startFleetScript(['--nodes', '2', '--port', String(port)], { viaNpm: true });
    try {
      await waitForFleetReady(fleet);
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
      expect(fleet.output()).toContain('fleet: stopped');
      expect(fleet.output()).not.toContain('second signal: exiting now');
      await expect(fetch(`http://127.0.0.1:${port}/ws`)).rejects.toThrow();
    } finally {
      await stopFleetScript(fleet);
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
    const bin = mkdtempSync(join(tmpdir(), 'herald-fleet-'));
    const haproxy = join(bin, 'haproxy');
    writeFileSync(
      haproxy,
      [
        '#!/usr/bin/env node',
        "if (process.argv[2] === '-v') process.exit(0);",
        "require('node:http').createServer((request, response) => response.writeHead(426).end()).listen(Number(process.env.HERALD_LB_PORT), '127.0.0.1');",
        'setTimeout(() => process.exit(1), 1000);',
        '',
      ].join('\n'),
    );
    chmodSync(haproxy, 0o755);
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
});
