// Builds the client SDK's browser bundles, the protocol code included:
//   client/dist/browser/herald-client.esm.js     <script type="module"> and bundlers
//   client/dist/browser/herald-client.global.js  a plain <script>, defining window.Herald
// A bundle is replaced by rename, and only when it changed, so a reader never sees half a file.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { build } from 'esbuild';

const clientDir = new URL('../client/', import.meta.url);
const bundles = [
  { format: 'esm', file: 'herald-client.esm.js' },
  { format: 'iife', file: 'herald-client.global.js', globalName: 'Herald' },
];

function writeIfChanged(path, contents) {
  try {
    if (Buffer.compare(readFileSync(path), contents) === 0) return;
  } catch {
    // not built yet
  }
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

await Promise.all(
  bundles.map(async ({ format, file, globalName }) => {
    const result = await build({
      entryPoints: [new URL('src/index.ts', clientDir).pathname],
      outfile: new URL(`dist/browser/${file}`, clientDir).pathname,
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: 'browser',
      target: ['es2020'],
      legalComments: 'none',
      logLevel: 'warning',
      write: false,
      format,
      ...(globalName ? { globalName } : {}),
    });
    for (const output of result.outputFiles) writeIfChanged(output.path, output.contents);
  }),
);
