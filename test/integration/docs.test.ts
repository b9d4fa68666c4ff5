import { existsSync, readFileSync } from 'node:fs';
import { CONNECTION_STATES } from '@herald/client';
import { CloseCodes } from '@herald/protocol';
import { AUTH_FAILURE_REASONS, CONFIG_VARIABLES } from '@herald/gateway';
import { REPO_ROOT } from '../support/paths.js';

const readme = readFileSync(`${REPO_ROOT}/README.md`, 'utf8');

describe('README', () => {
  it('starts with what Herald is, then the install-and-start and test commands', () => {
    const lines = readme.split('\n');
    expect(lines[0]).toBe('# Herald');
    const firstCommands = lines.filter((line) => line.startsWith('npm ')).slice(0, 2);
    expect(firstCommands[0]).toMatch(/^npm ci && npm start\b/);
    expect(firstCommands[1]).toMatch(/^npm test\b/);
  });

  it('documents every configuration variable the gateway reads, and no other', () => {
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Protocol'));
    const documented = [...table.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(CONFIG_VARIABLES).sort());
  });

  it('cites, for every delivery guarantee, test files that exist and tests they contain', () => {
    const table = readme.slice(readme.indexOf('| Guarantee |'), readme.indexOf('Not guaranteed:'));
    const rows = table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Guarantee') && !line.startsWith('| ---'));
    expect(rows.length).toBeGreaterThan(8);
    for (const row of rows) {
      const proof = row.split(' | ').at(-1) ?? '';
      const citations = [...proof.matchAll(/`([\w./-]+\.test\.ts)`((?: › [^;`(]+)*)/g)];
      expect(citations.length).toBeGreaterThan(0);
      for (const [, file, names] of citations) {
        const path = [file, `test/integration/${file}`].map((candidate) => `${REPO_ROOT}/${candidate}`).find((candidate) => existsSync(candidate));
        expect({ file, exists: path !== undefined }).toEqual({ file, exists: true });
        const source = readFileSync(path as string, 'utf8');
        for (const name of (names ?? '').split(' › ').map((part) => part.trim()).filter(Boolean)) {
          expect({ file, name, found: source.includes(name.replace(/ \|$/, '')) }).toEqual({ file, name, found: true });
        }
      }
    }
  });

  it('documents every close code in the protocol table', () => {
    const table = readme.slice(readme.indexOf('### Close codes'), readme.indexOf('## HTTP API'));
    for (const entry of Object.values(CloseCodes)) {
      expect(table).toContain(`| ${entry.code} | \`${entry.name}\` | ${entry.reconnect ? 'yes' : 'no'} |`);
    }
  });

  it('names every reason a refused token can be given', () => {
    const section = readme.slice(readme.indexOf('### Connecting'), readme.indexOf('### Frames'));
    for (const reason of AUTH_FAILURE_REASONS) expect({ reason, listed: section.includes(`\`${reason}\``) }).toEqual({ reason, listed: true });
  });

  it("documents the client SDK's states, in order, and no other", () => {
    const section = readme.slice(readme.indexOf('## Client SDK'), readme.indexOf('## Running several nodes'));
    const table = section.slice(section.indexOf('| State |'));
    const documented = [...table.matchAll(/^\| `([a-z]+)` \|/gm)].map((match) => match[1]);
    expect(documented).toEqual([...CONNECTION_STATES]);
  });
});
