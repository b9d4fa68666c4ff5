import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/paths.js';

const run = promisify(execFile);

describe('npm run docs (TypeDoc)', () => {
  it('builds the API reference of the publisher SDK, the client and the protocol, with TSDoc on every public export', async () => {
    const out = mkdtempSync(join(tmpdir(), 'herald-api-'));
    try {
      // typedoc.json treats an undocumented export as an error: the command fails and names it.
      const result = await run(process.execPath, [join(REPO_ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: REPO_ROOT }).catch(
        (error: { stdout?: string; code?: number }) => ({ stdout: `exit ${error.code}: ${error.stdout ?? ''}` }),
      );
      expect(result.stdout.replace(/\x1b\[[0-9;]*m/g, '')).not.toMatch(/warning|error|exit \d/);
      for (const page of ['index.html', 'functions/_herald_publisher-sdk.createPublisher.html', 'functions/_herald_client.connect.html']) {
        expect({ page, exists: existsSync(join(out, page)) }).toEqual({ page, exists: true });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);
});
