// The CommonJS builds of dual packages live in dist/cjs under a package whose type is "module";
// a nested package.json tells Node to load those files as CommonJS.
import { mkdirSync, writeFileSync } from 'node:fs';

for (const pkg of ['protocol', 'publisher-sdk']) {
  const dir = new URL(`../${pkg}/dist/cjs/`, import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('package.json', dir), '{ "type": "commonjs" }\n');
}
