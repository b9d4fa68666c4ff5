import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { REPO_ROOT } from '../support/paths.js';
import { postPublish } from '../support/publish.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';

/** Pages that load the client's browser bundles as the README shows, with nothing else. */
const body = `
  const params = new URLSearchParams(location.search);
  const herald = connect({ url: params.get('ws'), getToken: () => params.get('token') });
  window.received = [];
  herald.on('state', (state) => { document.title = state; });
  herald.on('event', (event) => window.received.push(event.type));`;

const PAGES = {
  '/esm.html': `<!doctype html><meta charset="utf-8">
<script type="module">
  import { connect } from './herald-client.esm.js';${body}
</script>`,
  '/global.html': `<!doctype html><meta charset="utf-8">
<script src="./herald-client.global.js"></script>
<script>
  const { connect } = window.Herald;${body}
</script>`,
};

describe("the client's browser bundles in headless Chromium", () => {
  let gateway: GatewayProcess;
  let site: StaticServer;
  let browser: Browser;

  beforeAll(async () => {
    gateway = await startGatewayProcess({ JWT_SECRET: TEST_JWT_SECRET, HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY });
    site = await startStaticServer({ '/': `${REPO_ROOT}client/dist/browser/` }, PAGES);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await gateway?.stop();
  });

  it.each([
    ['an ES module import', '/esm.html'],
    ['a plain script tag (window.Herald)', '/global.html'],
  ])('work from %s with no bundler and no import map', async (_, path) => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const user = `bundle-${path.slice(1, -5)}`;
    const token = await signTestToken({ sub: user });
    await page.goto(`${site.url}${path}?ws=${encodeURIComponent(gateway.wsUrl)}&token=${encodeURIComponent(token)}`);
    await page.waitForFunction(() => document.title === 'open', undefined, { timeout: 15_000 });
    const answer = await postPublish(gateway.httpUrl, { user_id: user, type: 'agent_started', run_id: 'r' });
    expect(answer.status).toBe(200);
    await page.waitForFunction(() => (window as unknown as { received: string[] }).received.length === 1, undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { received: string[] }).received)).toEqual(['agent_started']);
    expect(errors).toEqual([]);
    await page.close();
  });
});
