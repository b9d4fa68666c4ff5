import { CloseCodes, GOLDEN_PATH_EVENT_TYPES } from '@herald/protocol';
import { createPublisher, type Publisher } from '@herald/publisher-sdk';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { REPO_ROOT } from '../support/paths.js';
import { freePort } from '../support/ports.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';

/** What the page records; read back with page.evaluate. */
interface PageLog {
  readonly events: { id: string; type: string; user_id: string }[];
  readonly gaps: unknown[];
  readonly states: string[];
  readonly closes: number[];
  readonly unauthorized: { code: number; reason: string }[];
  readonly duplicatesDropped: () => number;
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Herald client</title>
<script type="importmap">{ "imports": { "@herald/protocol": "/protocol/index.js" } }</script>
<script type="module">
  import { connect } from '/client/index.js';
  const params = new URLSearchParams(location.search);
  const log = { events: [], gaps: [], states: [], closes: [], unauthorized: [] };
  const client = connect({
    url: params.get('ws'),
    getToken: () => params.get('token'),
    reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    authRetryWindowMs: 0,
  });
  client.on('event', (event) => log.events.push({ id: event.id, type: event.type, user_id: event.user_id }));
  client.on('gap', (gap) => log.gaps.push(gap));
  client.on('state', (state) => log.states.push(state));
  client.on('close', (info) => log.closes.push(info.code));
  client.on('unauthorized', (info) => log.unauthorized.push({ code: info.code, reason: info.reason }));
  log.duplicatesDropped = () => client.stats.duplicatesDropped;
  window.heraldLog = log;
</script>`;

/** A condition on the page's log, evaluated in the page. */
const whenLog = (condition: string) => `window.heraldLog !== undefined && (${condition})`;

describe('the client SDK in headless Chromium', () => {
  let redis: RedisServer;
  let gateway: GatewayProcess | undefined;
  let site: StaticServer;
  let browser: Browser;
  let publisher: Publisher;
  let env: Record<string, string>;

  beforeAll(async () => {
    redis = await startRedisServer();
    env = {
      PORT: String(await freePort()),
      REDIS_URL: redis.url,
      JWT_SECRET: TEST_JWT_SECRET,
      HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY,
      NODE_ENV: 'production',
      NODE_ID: 'browser-node',
    };
    gateway = await startGatewayProcess(env);
    site = await startStaticServer(
      { '/client/': `${REPO_ROOT}client/dist/esm/`, '/protocol/': `${REPO_ROOT}protocol/dist/esm/` },
      { '/': PAGE },
    );
    browser = await launchChromium();
    publisher = createPublisher({ redisUrl: redis.url });
  });

  afterAll(async () => {
    await browser?.close();
    await publisher?.close();
    await site?.close();
    await gateway?.stop('SIGKILL');
    await redis?.stop();
  });

  it('receives the golden path, survives a server-side close, and resumes without loss or duplicates', async () => {
    const page = await browser.newPage();
    const token = await signTestToken({ sub: 'browser-user', expiresIn: 3600 });
    const wsUrl = gateway?.wsUrl ?? '';
    await page.goto(`${site.url}/?ws=${encodeURIComponent(wsUrl)}&token=${encodeURIComponent(token)}`);
    await page.waitForFunction(whenLog(`window.heraldLog.states.includes('open')`), undefined, { timeout: 15_000 });

    const published: string[] = [];
    const runGoldenPath = async (runId: string) => {
      published.push((await publisher.agentStarted('browser-user', runId)).event_id);
      published.push((await publisher.agentThinking('browser-user', runId, { thought: 'searching' })).event_id);
      published.push((await publisher.toolExecuting('browser-user', runId, { tool: 'search' })).event_id);
      published.push((await publisher.toolCompleted('browser-user', runId, { hits: 3 })).event_id);
      published.push((await publisher.agentCompleted('browser-user', runId, { answer: 42 })).event_id);
    };

    await runGoldenPath('run-1');
    await page.waitForFunction(whenLog('window.heraldLog.events.length === 5'), undefined, { timeout: 10_000 });

    // The node goes away (closing its sockets with 1001); events keep coming meanwhile.
    await gateway?.stop('SIGTERM');
    await page.waitForFunction(whenLog('window.heraldLog.closes.includes(1001)'), undefined, { timeout: 10_000 });
    await runGoldenPath('run-2');
    gateway = await startGatewayProcess(env);
    await page.waitForFunction(whenLog('window.heraldLog.events.length === 10'), undefined, { timeout: 15_000 });
    await page.waitForTimeout(300); // a duplicate would show up now

    const log = await page.evaluate(() => {
      const recorded = (globalThis as unknown as { heraldLog: PageLog }).heraldLog;
      return { ...recorded, duplicatesDropped: recorded.duplicatesDropped() };
    });
    expect(log.events.map((event) => event.id)).toEqual(published);
    expect(log.events.map((event) => event.type)).toEqual([...GOLDEN_PATH_EVENT_TYPES, ...GOLDEN_PATH_EVENT_TYPES]);
    expect(log.events.every((event) => event.user_id === 'browser-user')).toBe(true);
    expect(log.gaps).toEqual([]);
    expect(log.duplicatesDropped).toBe(0);
    expect(log.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    await page.close();
  });

  it('ends in state unauthorized for a token the gateway refuses, and the page reads the close code', async () => {
    const page = await browser.newPage();
    const token = await signTestToken({ sub: 'browser-user', secret: 'not-the-gateway-secret-not-the-gateway-secret' });
    await page.goto(`${site.url}/?ws=${encodeURIComponent(gateway?.wsUrl ?? '')}&token=${encodeURIComponent(token)}`);
    await page.waitForFunction(whenLog(`window.heraldLog.states.includes('unauthorized')`), undefined, { timeout: 15_000 });
    await page.waitForTimeout(300); // a reconnect would show up now

    const log = await page.evaluate(() => {
      const recorded = (globalThis as unknown as { heraldLog: PageLog }).heraldLog;
      return { states: recorded.states, closes: recorded.closes, unauthorized: recorded.unauthorized, events: recorded.events };
    });
    expect(log.states).toEqual(['connecting', 'reconnecting', 'unauthorized']);
    expect(log.closes).toEqual([CloseCodes.UNAUTHORIZED.code, CloseCodes.UNAUTHORIZED.code, CloseCodes.UNAUTHORIZED.code]);
    expect(log.unauthorized).toEqual([{ code: CloseCodes.UNAUTHORIZED.code, reason: 'invalid_signature' }]);
    expect(log.events).toEqual([]);
    await page.close();
  });
});
