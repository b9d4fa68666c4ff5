// The cost floor: the smallest per-user forwarder from Redis to WebSockets, with no guarantees
// (no history, no resume, no acknowledgements). Anything Herald spends above this buys something.
import Redis from 'ioredis';
import { jwtVerify } from 'jose';
import uWS from 'uWebSockets.js';
import { required } from '../env.mjs';

// The package falls back to a slow pure-JS implementation when its native binary does not load;
// that fallback lacks this constant, and a floor measured on it would be meaningless.
if (uWS.LIBUS_LISTEN_EXCLUSIVE_PORT === undefined) throw new Error('uWebSockets.js native binary not loaded');

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST || '127.0.0.1';
const key = new TextEncoder().encode(required('JWT_SECRET'));
const redis = new Redis(required('REDIS_URL'));
redis.on('error', (err) => console.error('redis:', err.message));

/** channel `u:<sub>` -> { sockets, subscribed: the SUBSCRIBE's acknowledgement } */
const users = new Map();

// The Buffer variant spares decoding the payload only to encode it again for the frame.
redis.on('messageBuffer', (channel, payload) => {
  const user = users.get(channel.toString());
  if (user) for (const ws of user.sockets) ws.send(payload, false);
});

let listenSocket;
uWS
  .App()
  .ws('/ws', {
    maxPayloadLength: 1024,
    // Buffer up to 1 MiB for a slow reader, then close it rather than silently drop frames.
    maxBackpressure: 1 << 20,
    closeOnBackpressureLimit: true,
    upgrade(res, req, context) {
      // req is only valid until this function returns: read everything now.
      const token = req.getQuery('token') ?? '';
      const wsKey = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => (aborted = true));
      jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] }).then(
        ({ payload }) => {
          if (aborted) return;
          const data = { channel: 'u:' + payload.sub, closed: false };
          res.cork(() => res.upgrade(data, wsKey, protocol, extensions, context));
        },
        () => {
          if (!aborted) res.cork(() => res.writeStatus('401 Unauthorized').end());
        },
      );
    },
    open(ws) {
      const data = ws.getUserData();
      let user = users.get(data.channel);
      if (!user) {
        user = { sockets: new Set(), subscribed: redis.subscribe(data.channel) };
        users.set(data.channel, user);
      }
      user.sockets.add(ws);
      user.subscribed.then(
        () => data.closed || ws.send('{"type":"ready"}', false),
        () => data.closed || ws.end(1011, 'subscribe failed'),
      );
    },
    close(ws) {
      const data = ws.getUserData();
      data.closed = true;
      const user = users.get(data.channel);
      user.sockets.delete(ws);
      if (user.sockets.size === 0) {
        users.delete(data.channel);
        redis.unsubscribe(data.channel).catch(() => {});
      }
    },
  })
  .listen(host, port, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
    if (!socket) {
      console.error(`cannot listen on ${host}:${port}`);
      process.exit(1);
    }
    listenSocket = socket;
    console.log(`listening ${uWS.us_socket_local_port(socket)}`);
  });

function shutdown() {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  redis.disconnect();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
