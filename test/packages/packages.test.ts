import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { REPO_ROOT } from '../support/paths.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { TEST_JWT_SECRET, signTestToken } from '../support/tokens.js';
import { COMMONJS_CONSUMER, ESM_CONSUMER, TSCONFIG, TYPESCRIPT_CONSUMER } from './consumers.js';

const run = promisify(execFile);
const PACKAGES = ['protocol', 'publisher-sdk', 'client'] as const;
const tarball = (pkg: string) => `herald-${pkg}-0.1.0.tgz`;
/** What a consumer installs next to the tarballs, at the versions this repository tests with. */
const CONSUMER_DEPENDENCIES = ['ws@8.18.3', '@types/ws@8.18.1', '@types/node@20.19.43'];

interface ConsumerOutput {
  readonly published: string;
  readonly received: string;
  readonly type: string;
}

describe('the SDK packages, installed from their tarballs in a project outside the repository', () => {
  let project: string;
  let redis: RedisServer;
  let gateway: GatewayProcess;
  let consumerEnv: NodeJS.ProcessEnv;
  let userCount = 0;

  beforeAll(async () => {
    project = mkdtempSync(join(tmpdir(), 'herald-consumer-'));
    await run('npm', ['pack', ...PACKAGES.flatMap((pkg) => ['-w', pkg]), '--pack-destination', project], { cwd: REPO_ROOT });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', ...PACKAGES.map((pkg) => `./${tarball(pkg)}`), ...CONSUMER_DEPENDENCIES],
      { cwd: project },
    );
    redis = await startRedisServer();
    gateway = await startGatewayProcess({ REDIS_URL: redis.url, JWT_SECRET: TEST_JWT_SECRET });
    consumerEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], REDIS_URL: redis.url, WS_URL: gateway.wsUrl };
  }, 240_000);

  afterAll(async () => {
    await gateway?.stop();
    await redis?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  });

  /** Runs a consumer for a user of its own and returns what it printed. */
  async function runConsumer(file: string): Promise<ConsumerOutput> {
    userCount += 1;
    const userId = `consumer-${userCount}`;
    const env = { ...consumerEnv, USER_ID: userId, TOKEN: await signTestToken({ sub: userId }) };
    const { stdout } = await run(process.execPath, [file], { cwd: project, env, timeout: 20_000 });
    return JSON.parse(stdout) as ConsumerOutput;
  }

  const expectDelivered = (output: ConsumerOutput) => {
    expect(output.type).toBe('agent_started');
    expect(output.received).toBe(output.published);
  };

  it.each(PACKAGES)('%s ships built code with types and sources, and nothing of the workspace', async (pkg) => {
    const { stdout } = await run('tar', ['tzf', join(project, tarball(pkg))]);
    const files = stdout.split('\n').filter(Boolean);
    expect(files).toEqual(expect.arrayContaining(['package/dist/esm/index.js', 'package/dist/esm/index.d.ts', 'package/dist/cjs/index.js', 'package/dist/cjs/index.d.ts', 'package/src/index.ts']));
    expect(files.filter((file) => /tsbuildinfo|\/test\/|tsconfig/.test(file))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/@herald', pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const version of Object.values(manifest.dependencies ?? {})) expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('the client ships its browser bundles, protocol included', () => {
    for (const file of ['herald-client.esm.js', 'herald-client.global.js']) {
      const bundle = readFileSync(join(project, 'node_modules/@herald/client/dist/browser', file), 'utf8');
      expect(bundle).not.toMatch(/@herald\/protocol/);
      expect(bundle).toContain('herald.gap');
    }
  });

  it('a CommonJS program publishes with the publisher SDK and receives with the client', async () => {
    writeFileSync(join(project, 'consumer.cjs'), COMMONJS_CONSUMER);
    expectDelivered(await runConsumer('consumer.cjs'));
  });

  it('an ES module program publishes and receives', async () => {
    writeFileSync(join(project, 'consumer.mjs'), ESM_CONSUMER);
    expectDelivered(await runConsumer('consumer.mjs'));
  });

  it('a TypeScript program passes tsc --strict against the declarations, as CommonJS and as ES module, and works', async () => {
    writeFileSync(join(project, 'consumer.ts'), TYPESCRIPT_CONSUMER);
    writeFileSync(join(project, 'consumer.mts'), TYPESCRIPT_CONSUMER);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const compiled = await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
    );
    expect(compiled.stdout).toBe('');
    expect(readFileSync(join(project, 'out/consumer.js'), 'utf8')).toContain('require("@herald/publisher-sdk")');
    expectDelivered(await runConsumer('out/consumer.js'));
    expectDelivered(await runConsumer('out/consumer.mjs'));
  }, 60_000);
});
