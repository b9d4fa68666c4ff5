// The CommonJS builds of dual packages live in dist/cjs under a package whose type is "module";
// a nested package.json tells Node to load those files as CommonJS.
// Usage: node scripts/write-cjs-markers.mjs [package…]   (default: every dual package)
import { mkdirSync, writeFileSync } from 'node:fs';

const DUAL_PACKAGES = ['protocol', 'publisher-sdk', 'client'];
const requested = process.argv.slice(2);
for (const pkg of requested) {
  if (!DUAL_PACKAGES.includes(pkg)) {
    console.error(`write-cjs-markers: ${pkg} is not one of ${DUAL_PACKAGES.join(', ')}`);
    process.exit(2);
  }
}

for (const pkg of requested.length > 0 ? requested : DUAL_PACKAGES) {
  const dir = new URL(`../${pkg}/dist/cjs/`, import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL('package.json', dir), '{ "type": "commonjs" }\n');
}
