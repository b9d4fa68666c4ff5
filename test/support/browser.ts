import { spawnSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Headless Debian Chromium; fails with an install hint when it is missing. */
export async function launchChromium(): Promise<Browser> {
  const probe = spawnSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${CHROMIUM_PATH} is required by this test and was not found. Install it ` +
        '(Debian/Ubuntu: apt-get install -y chromium; .ci/run does this) and run the tests again.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
