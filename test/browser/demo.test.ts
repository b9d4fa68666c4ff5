import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { GOLDEN_PATH_EVENT_TYPES } from '@herald/protocol';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { sendSignal } from '../support/child-process.js';
import { startFleetScript, stopFleetScript, waitForFleetReady } from '../support/fleet-script.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { freePort } from '../support/ports.js';
import { TEST_JWT_SECRET } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

/** A step of a run's timeline, as the page shows it. */
interface Step {
  readonly type: string;
  readonly state: string;
  readonly eventId: string;
  readonly node: string;
  readonly latency: string;
}

/** The runs on the page, oldest first, each with its timeline's steps in order. */
function readRuns(page: Page): Promise<Step[][]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>('.run')).reverse().map((run) =>
      Array.from(run.querySelectorAll<HTMLElement>('.step')).map((step) => ({
        type: step.dataset['step'] ?? '',
        state: step.dataset['state'] ?? '',
        eventId: step.dataset['eventId'] ?? '',
        node: step.dataset['node'] ?? '',
        latency: step.querySelector('.latency')?.textContent ?? '',
      })),
    ),
  );
}

const text = (page: Page, id: string) => page.evaluate((element) => document.getElementById(element)?.textContent ?? '', id);
const eventNumber = (id: string) => Number(id.split('-').pop());

/** Opens the page, collecting the page's own errors, and waits until its client is connected. */
async function openDemo(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('state')?.dataset['state'] === 'open', null, { timeout: 15_000 });
  return { page, errors };
}

/** Waits until that many runs on the page are complete. */
async function completeRuns(page: Page, count: number): Promise<void> {
  await page.waitForFunction((runs) => document.querySelectorAll('.run[data-complete="true"]').length >= runs, count, { timeout: 30_000 });
}

/** Presses the run button and waits until that many runs on the page are complete. */
async function runAgent(page: Page, runs: number): Promise<void> {
  await page.click('#run');
  await completeRuns(page, runs);
}

/** Every step done, in order, each event once, each delivered by one of `nodes`. */
function expectGoldenPath(steps: readonly Step[], ...nodes: string[]): void {
  expect(steps.map((step) => step.type)).toEqual([...GOLDEN_PATH_EVENT_TYPES]);
  for (const step of steps) {
    expect(step.state).toBe('done');
    expect(nodes).toContain(step.node);
    expect(step.latency).toMatch(/^\d+ ms( · from history)?$/);
  }
  const numbers = steps.map((step) => eventNumber(step.eventId));
  expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  expect(new Set(numbers).size).toBe(numbers.length);
}

/** The pid of the process listening on this TCP port (the serving node of a fleet). */
function listenerPid(port: number): number {
  const listing = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = /pid=(\d+)/.exec(listing)?.[1];
  if (pid === undefined) throw new Error(`nothing listens on port ${port}: ${listing}`);
  return Number(pid);
}

describe('the demo page', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  describe('on a development node', () => {
    let gateway: GatewayProcess;

    beforeAll(async () => {
      gateway = await startGatewayProcess({ NODE_ENV: 'development' });
    });

    afterAll(async () => {
      await gateway?.stop();
    });

    it('connects with a token of its own and shows a simulated run as five golden-path events in order, with latency and the node', async () => {
      const { page, errors } = await openDemo(browser, `${gateway.httpUrl}/`);
      expect(await text(page, 'node')).toBe(gateway.nodeId);
      await runAgent(page, 1);
      const [run] = await readRuns(page);
      expectGoldenPath(run ?? [], gateway.nodeId);
      expect(await text(page, 'events')).toBe('5');
      expect(await text(page, 'gaps')).toBe('0');
      expect(errors).toEqual([]);
      await page.close();
    });

    it('serves the client bundle it imports', async () => {
      const response = await fetch(`${gateway.httpUrl}/herald-client.esm.js`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
      expect(await response.text()).toContain('herald.resumed');
    });
  });

  it('on a node that verifies with a public key, says it needs a token and offers no run', async () => {
    const publicKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const gateway = await startGatewayProcess({ NODE_ENV: 'development', JWT_PUBLIC_KEY: publicKey });
    try {
      const page = await browser.newPage();
      await page.goto(`${gateway.httpUrl}/`);
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'no token', null, { timeout: 10_000 });
      expect(await text(page, 'notice')).toMatch(/cannot sign one: open this page with \?token=/);
      expect(await page.evaluate(() => (document.getElementById('run') as HTMLButtonElement).disabled)).toBe(true);
      expect((await fetch(`${gateway.httpUrl}/demo/token`)).status).toBe(404);
      await page.close();
    } finally {
      await gateway.stop();
    }
  });

  it('is not served by a production-like node, nor its token or bundle', async () => {
    const gateway = await startGatewayProcess({ NODE_ENV: 'production', EMBEDDED_BROKER: 'true', JWT_SECRET: TEST_JWT_SECRET });
    try {
      for (const path of ['/', '/demo/token', '/herald-client.esm.js']) {
        const response = await fetch(`${gateway.httpUrl}${path}`);
        expect({ path, status: response.status }).toEqual({ path, status: 404 });
      }
    } finally {
      await gateway.stop();
    }
  });

  it('in a fleet, resumes on another node when its node is killed in the middle of a run, and shows that run and the next without loss', async () => {
    const port = await freePort();
    const fleet = startFleetScript(['--nodes', '2', '--port', String(port)]);
    try {
      await waitForFleetReady(fleet);
      const demo = /Demo page \(live agent runs of "dev-user"\): (\S+)/.exec(fleet.output())?.[1];
      expect(demo).toBe(`http://127.0.0.1:${port}/`);
      const { page, errors } = await openDemo(browser, demo ?? '');
      await page.click('#run');
      await page.waitForFunction(() => document.querySelectorAll('.step[data-state="done"]').length >= 2, null, { timeout: 15_000 });
      const first = await text(page, 'node');
      const wsPort = new RegExp(`${first}: ws port (\\d+)`).exec(fleet.output())?.[1];
      expect(wsPort).toBeDefined();
      sendSignal(listenerPid(Number(wsPort)), 'SIGKILL');

      await waitUntil('the page to be connected to another node', async () => (await text(page, 'node')) !== first && (await text(page, 'state')) === 'open', 20_000);
      const second = await text(page, 'node');
      await waitUntil('the page to resume', async () => Number(await text(page, 'resumes')) >= 1, 10_000);
      await completeRuns(page, 1);
      await runAgent(page, 2);

      const [before, after] = await readRuns(page);
      expectGoldenPath(before ?? [], first, second);
      expect(before?.[0]?.node).toBe(first);
      expectGoldenPath(after ?? [], second);
      expect(eventNumber(after?.[0]?.eventId ?? '')).toBe(eventNumber(before?.[4]?.eventId ?? '') + 1);
      expect(await text(page, 'events')).toBe('10');
      expect(await text(page, 'gaps')).toBe('0');
      // While HAProxy still routes to the killed node, a connection attempt or a request may fail: the page retries.
      expect(errors.filter((error) => !/WebSocket connection .* failed|Failed to load resource: .* (502|503)/.test(error))).toEqual([]);
      await page.close();
    } finally {
      await stopFleetScript(fleet);
    }
  }, 120_000);
});
