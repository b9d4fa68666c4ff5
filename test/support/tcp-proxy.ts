import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections currently proxied. */
  readonly open: number;
  /** Drops one proxied connection at random, as a network failure would (no close frame). */
  cutOne(random?: () => number): boolean;
  close(): Promise<void>;
}

/** A TCP proxy to 127.0.0.1:`targetPort` whose connections can be cut from the outside. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<{ readonly client: Socket; readonly upstream: Socket }>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get open() {
      return pairs.size;
    },
    cutOne(random = Math.random) {
      const all = [...pairs];
      const pair = all[Math.floor(random() * all.length)];
      if (!pair) return false;
      pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
      return true;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
