// Socket.IO 4 as it is usually deployed across several nodes: the Redis adapter, websocket
// transport only, one room per user.
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { required } from '../env.mjs';

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST || '127.0.0.1';
const key = new TextEncoder().encode(required('JWT_SECRET'));
const pub = new Redis(required('REDIS_URL'));
const sub = pub.duplicate();
for (const client of [pub, sub]) client.on('error', (err) => console.error('redis:', err.message));

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  adapter: createAdapter(pub, sub),
});

io.use(async (socket, next) => {
  const token = socket.handshake.auth?.token ?? socket.handshake.query.token;
  try {
    const { payload } = await jwtVerify(String(token), key, { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
    socket.join('u:' + payload.sub);
    next();
  } catch {
    next(new Error('unauthorized'));
  }
});

// The adapter subscribed when it was created; a command queued behind that subscription returns
// once Redis has acknowledged it, so no event published after `listening` can be missed.
await sub.ping();
httpServer.listen(port, host, () => console.log(`listening ${httpServer.address().port}`));

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  io.close(() => {
    pub.disconnect();
    sub.disconnect();
    process.exit(0);
  });
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
