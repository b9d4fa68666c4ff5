import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_RECONNECT_RANGE } from '@herald/protocol';
import { CONFIG_VARIABLES } from '@herald/gateway';
import { GENERATED_FILES, regenerate } from '../../scripts/docs-reference.mjs';
import { REPO_ROOT } from '../support/paths.js';

function read(file: string): string {
  return readFileSync(join(REPO_ROOT, file), 'utf8');
}

/** The first line where two texts differ, for a message that shows what changed. */
function firstDifference(actual: string, expected: string): string {
  const [have, want] = [actual.split('\n'), expected.split('\n')];
  const line = have.findIndex((text, i) => text !== want[i]);
  const at = line < 0 ? have.length : line;
  return `line ${at + 1}:\n  the page has:    ${have[at] ?? '(nothing)'}\n  it should have:  ${want[at] ?? '(nothing)'}`;
}

describe('the reference pages in docs/', () => {
  const sources = { CONFIG_VARIABLES, CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_RECONNECT_RANGE };

  it.each(GENERATED_FILES)('%s: every generated section is up to date', (file) => {
    const text = read(file);
    const expected = regenerate(file, text, sources);
    if (text !== expected) {
      throw new Error(`${file} is out of date: run \`npm run docs:generate\` and commit the result.\nFirst difference at ${firstDifference(text, expected)}`);
    }
  });

  it('document every configuration variable the gateway reads, and every close code', () => {
    const configuration = read('docs/configuration.md');
    for (const name of Object.keys(CONFIG_VARIABLES)) expect(configuration).toContain(`| \`${name}\` |`);
    const protocol = read('docs/protocol.md');
    for (const entry of Object.values(CloseCodes)) {
      expect(protocol).toContain(`| ${entry.code} | \`${entry.name}\` | ${entry.reconnect ? 'yes' : 'no'} |`);
    }
  });
});
