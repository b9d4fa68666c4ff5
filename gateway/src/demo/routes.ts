import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { TemplatedApp } from 'uWebSockets.js';
import { errorBody, guardResponse, respondLater, writeContent, writeJson } from '../transport/http.js';
import { demoPage } from './page.js';

export interface DemoDependencies {
  readonly nodeId: string;
  readonly publishKey: string | undefined;
  /** Signs a short-lived token for the demo user; undefined when the node cannot sign (public keys). */
  readonly issueToken: (() => Promise<string>) | undefined;
  readonly logger: Logger;
}

const TOKEN_PATH = 'demo/token';
const NO_STORE = { 'cache-control': 'no-store' };

/** Where the client's browser bundles are, found when first asked for (an image may not ship them). */
let bundleDirectory: string | undefined;

/** A file of the client SDK's browser bundle, read at each request (a rebuild shows at once); undefined when not built. */
function clientBundle(file: string): Buffer | undefined {
  try {
    bundleDirectory ??= dirname(createRequire(import.meta.url).resolve('@herald/client/browser'));
    return readFileSync(join(bundleDirectory, file));
  } catch {
    return undefined;
  }
}

/**
 * Development only: the demo page at `/`, the client bundle it imports and a token for it. These
 * hand out a working token and the publish key to anyone who can reach the node, which is why
 * production-like nodes never register them.
 */
export function registerDemoRoutes(app: TemplatedApp, deps: DemoDependencies): void {
  const page = demoPage({
    nodeId: deps.nodeId,
    tokenPath: deps.issueToken ? TOKEN_PATH : undefined,
    publishKey: deps.publishKey,
  });
  app.get('/', (res) => {
    writeContent(res, 200, 'text/html; charset=utf-8', page, NO_STORE);
  });

  for (const file of ['herald-client.esm.js', 'herald-client.esm.js.map']) {
    app.get(`/${file}`, (res) => {
      const bundle = clientBundle(file);
      if (bundle === undefined) {
        writeJson(res, { status: 404, body: errorBody('not_found', `${file} is not built: run "npm run build"`) });
        return;
      }
      const type = file.endsWith('.map') ? 'application/json' : 'text/javascript; charset=utf-8';
      writeContent(res, 200, type, bundle, NO_STORE);
    });
  }

  app.get(`/${TOKEN_PATH}`, (res) => {
    const issueToken = deps.issueToken;
    if (issueToken === undefined) {
      writeJson(res, { status: 404, body: errorBody('not_found', 'this node verifies tokens with a public key and cannot sign one') });
      return;
    }
    const guard = guardResponse(res);
    issueToken().then(
      (token) => respondLater(res, guard, { status: 200, body: { token } }),
      (error: unknown) => {
        deps.logger.error({ err: error }, 'demo token could not be signed');
        respondLater(res, guard, { status: 500, body: errorBody('internal_error', 'the token could not be signed') });
      },
    );
  });
}
