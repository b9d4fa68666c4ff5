import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One proxied connection, with the faults a test can inject on it. */
export interface ProxiedConnection {
  readonly id: number;
  /** The first bytes the client sent (up to 64 KiB): enough to tell which client it is. */
  readonly clientBytes: () => Buffer;
  /** Milliseconds to hold each chunk the server sends before passing it on (order is kept). */
  replyDelayMs: () => number;
  /** Cut the connection (both sides) instead of passing on the server's next chunk. */
  cutOnNextReply: boolean;
  /** Drops the connection, as a network failure would (no close handshake). */
  cut(): void;
}

export interface TcpProxyOptions {
  /** Told of each new connection (set its faults here). */
  readonly onConnection?: (connection: ProxiedConnection) => void;
  /** Told of each chunk the client sends, before it is passed on. */
  readonly onClientChunk?: (connection: ProxiedConnection, chunk: Buffer) => void;
  /** Rewrites each chunk the server sends before it is passed on (to drop a message, say). */
  readonly onServerChunk?: (connection: ProxiedConnection, chunk: Buffer) => Buffer;
}

export interface TcpProxy {
  readonly port: number;
  /** Connections currently proxied. */
  readonly open: number;
  readonly connections: ReadonlySet<ProxiedConnection>;
  /** Drops one proxied connection at random, as a network failure would (no close frame). */
  cutOne(random?: () => number): boolean;
  close(): Promise<void>;
}

const SNIFF_LIMIT = 64 * 1024;

/** A TCP proxy to 127.0.0.1:`targetPort` whose connections can be delayed and cut from the outside. */
export async function startTcpProxy(targetPort: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const connections = new Set<ProxiedConnection>();
  let ids = 0;
  const server: Server = createServer((client: Socket) => {
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
    let sniffed = Buffer.alloc(0);
    let dropped = false;
    // Held server chunks, oldest first, each with when it may go: one timer at a time keeps
    // them in order (two timers due in the same millisecond may fire in either order).
    const queue: { readonly chunk: Buffer; readonly at: number }[] = [];
    let pumping = false;
    // The server closed its end: the client is told so once the held chunks have gone, as it would
    // be over a slow link (a reset instead would lose them, a QUIT's answer say).
    let serverEnded = false;
    const endClientOnceFlushed = () => {
      if (serverEnded && !dropped && queue.length === 0) client.end();
    };
    const pump = () => {
      const head = queue[0];
      if (dropped || !head) {
        pumping = false;
        endClientOnceFlushed();
        return;
      }
      const wait = head.at - Date.now();
      if (wait > 0) {
        setTimeout(pump, wait);
        return;
      }
      queue.shift();
      client.write(head.chunk);
      pump();
    };
    const drop = () => {
      if (dropped) return;
      dropped = true;
      connections.delete(connection);
      // A reset on a socket that is already shutting down never completes, and the handle then
      // keeps the process from exiting (libuv refuses uv_tcp_close_reset while a shutdown is pending).
      if (client.writableEnded || client.destroyed || client.connecting) client.destroy();
      else client.resetAndDestroy();
      upstream.destroy();
    };
    const connection: ProxiedConnection = {
      id: ++ids,
      clientBytes: () => sniffed,
      replyDelayMs: () => 0,
      cutOnNextReply: false,
      cut: drop,
    };
    connections.add(connection);
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('end', () => {
      serverEnded = true;
      if (!pumping) endClientOnceFlushed();
    });
    upstream.on('close', (hadError: boolean) => {
      if (hadError || !serverEnded) drop();
    });
    client.on('data', (chunk: Buffer) => {
      if (sniffed.length < SNIFF_LIMIT) sniffed = Buffer.concat([sniffed, chunk]).subarray(0, SNIFF_LIMIT);
      options.onClientChunk?.(connection, chunk);
      if (!dropped) upstream.write(chunk);
    });
    upstream.on('data', (received: Buffer) => {
      const chunk = options.onServerChunk ? options.onServerChunk(connection, received) : received;
      if (chunk.length === 0) return;
      if (connection.cutOnNextReply) {
        drop();
        return;
      }
      const delay = connection.replyDelayMs();
      if (delay <= 0 && queue.length === 0) {
        client.write(chunk);
        return;
      }
      queue.push({ chunk, at: Math.max(queue.at(-1)?.at ?? 0, Date.now() + delay) });
      if (!pumping) {
        pumping = true;
        pump();
      }
    });
    options.onConnection?.(connection);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get open() {
      return connections.size;
    },
    connections,
    cutOne(random = Math.random) {
      const all = [...connections];
      const connection = all[Math.floor(random() * all.length)];
      if (!connection) return false;
      connection.cut();
      return true;
    },
    async close() {
      for (const connection of [...connections]) connection.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
