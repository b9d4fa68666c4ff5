import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../test/support/paths.js';
import { useRedisServer } from '../../test/support/redis-server.js';

const run = promisify(execFile);

const redis = useRedisServer();

const script = (load: string) => `
${load}
const publisher = createPublisher({ redisUrl: process.env.REDIS_URL });
publisher.agentStarted('module-user', 'run-1', { ok: true }).then(async (result) => {
  console.log(JSON.stringify(result));
  await publisher.close();
});
`;

async function runNode(args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, REDIS_URL: redis().url } });
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

describe('publisher SDK packaging (built output)', () => {
  it('works from a plain CommonJS consumer', async () => {
    const result = await runNode(['-e', script("const { createPublisher } = require('@herald/publisher-sdk');")]);
    expect(result).toMatchObject({ user_id: 'module-user', event_type: 'agent_started', nodes_reached: 0 });
  });

  it('works from an ES module consumer', async () => {
    const result = await runNode([
      '--input-type=module',
      '-e',
      script("import { createPublisher } from '@herald/publisher-sdk';"),
    ]);
    expect(result).toMatchObject({ user_id: 'module-user', event_type: 'agent_started', nodes_reached: 0 });
  });

  it('ships type declarations for both formats', () => {
    for (const file of ['dist/esm/index.d.ts', 'dist/cjs/index.d.ts']) {
      expect(existsSync(`${REPO_ROOT}/publisher-sdk/${file}`)).toBe(true);
      expect(existsSync(`${REPO_ROOT}/protocol/${file}`)).toBe(true);
    }
  });
});
