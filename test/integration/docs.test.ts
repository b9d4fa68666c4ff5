import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONNECTION_STATES } from '@herald/client';
import { AUTH_FAILURE_REASONS } from '@herald/gateway';
import { REPO_ROOT } from '../support/paths.js';

const read = (file: string) => readFileSync(join(REPO_ROOT, file), 'utf8');
const readme = read('README.md');

describe('README', () => {
  it('starts with what Herald is, then the install-and-start and test commands', () => {
    const lines = readme.split('\n');
    expect(lines[0]).toBe('# Herald');
    const firstCommands = lines.filter((line) => line.startsWith('npm ')).slice(0, 2);
    expect(firstCommands[0]).toMatch(/^npm ci && npm start\b/);
    expect(firstCommands[1]).toMatch(/^npm test\b/);
  });

  it('stays short: what, quick start, install, a first use and links to docs/', () => {
    const sections = [...readme.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
    expect(sections).toEqual(['Install', 'Publish and receive', 'Documentation', 'Performance', 'Repository layout']);
    for (const page of ['architecture', 'guarantees', 'publisher-sdk', 'client-sdk', 'protocol', 'configuration', 'operations', 'security']) {
      expect(readme).toContain(`(docs/${page}.md)`);
    }
  });
});

describe('docs/', () => {
  it('protocol.md names every reason a refused token can be given', () => {
    const protocol = read('docs/protocol.md');
    const section = protocol.slice(protocol.indexOf('## Connecting'), protocol.indexOf('## Frames'));
    for (const reason of AUTH_FAILURE_REASONS) expect({ reason, listed: section.includes(`\`${reason}\``) }).toEqual({ reason, listed: true });
  });

  it("client-sdk.md documents the client SDK's states, in order, and no other", () => {
    const page = read('docs/client-sdk.md');
    const table = page.slice(page.indexOf('| State |'));
    const documented = [...table.matchAll(/^\| `([a-z]+)` \|/gm)].map((match) => match[1]);
    expect(documented).toEqual([...CONNECTION_STATES]);
  });
});
