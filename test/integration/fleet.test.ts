import { spawn } from 'node:child_process';
import { TestClient } from '../support/clients.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { postPublish } from '../support/publish.js';
import { waitUntil } from '../support/wait.js';

describe('npm run fleet', () => {
  it('starts Redis, gateway nodes and HAProxy, serves events through the load balancer, and stops cleanly on Ctrl-C', async () => {
    const port = await freePort();
    const fleet = spawn(process.execPath, ['scripts/fleet.mjs', '--nodes', '2', '--port', String(port)], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'] },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    fleet.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    fleet.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => fleet.once('exit', (code) => resolve(code)));
    try {
      await waitUntil('the fleet to be ready', () => output.includes('Herald fleet ready'), 30_000);
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

      fleet.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output).toContain('fleet: stopped');
      expect((await client.waitForClose()).code).toBe(1001);
      await expect(fetch(`http://127.0.0.1:${port}/ws`)).rejects.toThrow();
    } finally {
      if (fleet.exitCode === null) fleet.kill('SIGKILL');
    }
  });
});
