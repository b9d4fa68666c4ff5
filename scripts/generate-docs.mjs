#!/usr/bin/env node
// Rewrites the generated sections of docs/ (the configuration tables, the close-code table) from
// the built gateway and protocol packages. Run it through `npm run docs:generate`, which builds
// first; test/integration/docs-reference.test.ts fails while a section is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { GENERATED_FILES, regenerate } from './docs-reference.mjs';

const root = new URL('../', import.meta.url);

async function load(path) {
  try {
    return await import(new URL(path, root).href);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    console.error(`generate-docs: ${path} is not built; run "npm run docs:generate", which builds first`);
    process.exit(1);
  }
}

const { CONFIG_VARIABLES } = await load('gateway/dist/index.js');
const { CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_NEW_TOKEN_RANGE, HERALD_RECONNECT_RANGE } = await load('protocol/dist/esm/index.js');
const sources = { CONFIG_VARIABLES, CloseCodes, HERALD_CLOSE_CODE_RANGE, HERALD_NEW_TOKEN_RANGE, HERALD_RECONNECT_RANGE };

for (const file of GENERATED_FILES) {
  const url = new URL(file, root);
  const text = readFileSync(url, 'utf8');
  const updated = regenerate(file, text, sources);
  if (updated === text) {
    console.log(`${file}: up to date`);
  } else {
    writeFileSync(url, updated);
    console.log(`${file}: updated`);
  }
}
