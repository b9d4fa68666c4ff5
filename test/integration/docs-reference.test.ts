import { existsSync, readFileSync } from 'node:fs';
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

/** A file a citation names: a path from the repository root, or a file of test/integration. */
function citedFile(file: string): string | undefined {
  return [file, `test/integration/${file}`].map((candidate) => join(REPO_ROOT, candidate)).find((candidate) => existsSync(candidate));
}

interface Citation {
  readonly file: string;
  readonly names: readonly string[];
}

/**
 * Citations in `text`: `` `file.test.ts` `` followed by ` › test name` parts, each name ending at
 * `;`, a backtick, a parenthesis, a table cell's end or the next part (lines joined first, so a
 * citation may wrap). A sentence's full stop or comma after a name is not part of it.
 */
function citationsIn(text: string): Citation[] {
  const joined = text.replace(/\s*\n\s*/g, ' ');
  return [...joined.matchAll(/`([\w./-]+\.test\.ts)`((?: › [^;`()|›]+)*)/g)].map(([, file, names]) => ({
    file: file as string,
    names: (names ?? '')
      .split(' › ')
      .map((name) => name.trim().replace(/[.,:]$/, ''))
      .filter(Boolean),
  }));
}

function checkCitation(page: string, citation: Citation): void {
  const path = citedFile(citation.file);
  expect({ page, file: citation.file, exists: path !== undefined }).toEqual({ page, file: citation.file, exists: true });
  const source = readFileSync(path as string, 'utf8');
  for (const name of citation.names) {
    expect({ page, file: citation.file, name, found: source.includes(name) }).toEqual({ page, file: citation.file, name, found: true });
  }
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

  it('cite, for every delivery guarantee, test files that exist and tests they contain', () => {
    const guarantees = read('docs/guarantees.md');
    const table = guarantees.slice(guarantees.indexOf('| Guarantee |'), guarantees.indexOf('## Not guaranteed'));
    const rows = table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Guarantee') && !line.startsWith('| ---'));
    expect(rows.length).toBeGreaterThan(8);
    for (const row of rows) {
      const citations = citationsIn(row.split(' | ').at(-1) ?? '');
      expect({ row: row.slice(0, 60), cited: citations.length > 0 }).toEqual({ row: row.slice(0, 60), cited: true });
      for (const citation of citations) checkCitation('docs/guarantees.md', citation);
    }
  });
});
