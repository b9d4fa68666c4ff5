import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
};

export interface StaticServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves files from directories mounted at URL prefixes, plus fixed pages. */
export async function startStaticServer(
  mounts: Readonly<Record<string, string>>,
  pages: Readonly<Record<string, string>>,
): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const page = pages[path];
      if (page !== undefined) {
        res.writeHead(200, { 'content-type': TYPES['.html'] ?? 'text/html' }).end(page);
        return;
      }
      for (const [prefix, directory] of Object.entries(mounts)) {
        if (!path.startsWith(prefix)) continue;
        const file = normalize(join(directory, path.slice(prefix.length)));
        if (!file.startsWith(directory)) break;
        try {
          const body = await readFile(file);
          res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
        } catch {
          res.writeHead(404).end();
        }
        return;
      }
      res.writeHead(404).end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
