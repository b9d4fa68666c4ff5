import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_NEW_TOKEN_RANGE, HERALD_RECONNECT_RANGE } from '@herald/protocol';
import { CONFIG_VARIABLES } from '@herald/gateway';
import { GENERATED_FILES, regenerate } from '../../scripts/docs-reference.mjs';
import { REPO_ROOT } from '../support/paths.js';

/** The reference pages under docs/ (decisions and benchmarks have rules of their own). */
const PAGES = [
  'docs/README.md',
  'docs/architecture.md',
  'docs/protocol.md',
  'docs/guarantees.md',
  'docs/configuration.md',
  'docs/operations.md',
  'docs/security.md',
  'docs/publisher-sdk.md',
  'docs/client-sdk.md',
  'docs/scaling-redis.md',
  'docs/performance.md',
  'README.md',
  'examples/README.md',
];

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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const anchor = anchorOf(heading as string);
    const count = seen.get(anchor) ?? 0;
    seen.set(anchor, count + 1);
    anchors.add(count === 0 ? anchor : `${anchor}-${count}`);
  }
  return anchors;
}

describe('the reference pages in docs/', () => {
  const sources = { CONFIG_VARIABLES, CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_NEW_TOKEN_RANGE, HERALD_RECONNECT_RANGE };

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

  it.each(PAGES)('%s: every test it cites exists and holds the tests named', (page) => {
    for (const citation of citationsIn(read(page))) checkCitation(page, citation);
  });

  it.each(PAGES)('%s: every relative link leads to a file, and every anchor to a heading', (page) => {
    const text = read(page).replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target as string)) continue;
      const [path = '', anchor] = (target as string).split('#');
      const file = path === '' ? page : normalize(join(dirname(page), path));
      expect({ page, target, exists: existsSync(join(REPO_ROOT, file)) }).toEqual({ page, target, exists: true });
      if (anchor !== undefined && file.endsWith('.md')) {
        expect({ page, target, anchored: anchorsOf(read(file)).has(anchor) }).toEqual({ page, target, anchored: true });
      }
    }
  });
});
