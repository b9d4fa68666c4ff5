// Socket.IO with the Redis adapter (peers/socketio) as a system of the load tool.
import { Emitter } from '@socket.io/redis-emitter';
import Redis from 'ioredis';
import { startPeer } from '../lib/servers.mjs';
import { io } from 'socket.io-client';

const SERVER = new URL('../peers/socketio/server.mjs', import.meta.url).pathname;

export function start(options) {
  return startPeer(SERVER, (port) => `http://127.0.0.1:${port}`, options);
}

/** onClose gets Socket.IO's disconnect reason (e.g. 'transport close'), it has no close code. */
export function openSocket({ url, token, onEvent, onClose }) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    let closing = false;
    socket.on('event', (data) => onEvent(data));
    socket.once('connect', () =>
      resolve({
        close() {
          closing = true;
          socket.disconnect();
        },
      }),
    );
    socket.once('connect_error', (err) => {
      socket.disconnect();
      reject(err);
    });
    socket.on('disconnect', (reason) => closing || onClose(reason));
  });
}

export async function createPublisher({ redisUrl }, { path }) {
  if (path !== 'sdk') throw new Error(`socketio publishes only through 'sdk', not '${path}'`);
  // Commands of one tick share one write: bare ioredis at its fastest (loadtest/README.md).
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  await redis.ping();
  // emit() calls publish() on the client it was given exactly once, synchronously, and drops the
  // promise; handing it this shim keeps that promise so publish() can wait for Redis's reply.
  let published;
  const emitter = new Emitter({ publish: (channel, message) => (published = redis.publish(channel, message)) });
  return {
    publish: async (userId, data) => {
      emitter.to('u:' + userId).emit('event', data);
      await published;
    },
    close: async () => {
      await redis.quit();
    },
  };
}
