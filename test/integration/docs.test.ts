import { readFileSync } from 'node:fs';
import { CloseCodes } from '@herald/protocol';
import { CONFIG_VARIABLES } from '@herald/gateway';
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

  it('documents every close code in the protocol table', () => {
    const table = readme.slice(readme.indexOf('### Close codes'), readme.indexOf('## HTTP API'));
    for (const entry of Object.values(CloseCodes)) {
      expect(table).toContain(`| ${entry.code} | \`${entry.name}\` | ${entry.reconnect ? 'yes' : 'no'} |`);
    }
  });
});
