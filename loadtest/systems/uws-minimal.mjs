// The uWebSockets.js floor (peers/uws-minimal) as a system of the load tool.
import Redis from 'ioredis';
import { startPeer } from '../lib/servers.mjs';
import WebSocket from 'ws';

const SERVER = new URL('../peers/uws-minimal/server.mjs', import.meta.url).pathname;

export function start(options) {
  return startPeer(SERVER, (port) => `ws://127.0.0.1:${port}/ws`, options);
}

export function openSocket({ url, token, onEvent, onClose }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?token=${token}`);
    let ready = false;
    let closing = false;
    const handle = {
      close() {
        closing = true;
        ws.close();
      },
    };
    ws.on('message', (raw) => {
      const message = JSON.parse(raw.toString());
      if (!ready && message.type === 'ready') {
        ready = true;
        resolve(handle);
      } else {
        onEvent(message);
      }
    });
    ws.on('error', (err) => ready || reject(err));
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`socket closed (${code}) before it was ready`));
      else if (!closing) onClose(code);
    });
  });
}

export async function createPublisher({ redisUrl }, { path }) {
  if (path !== 'sdk') throw new Error(`uws-minimal publishes only through 'sdk', not '${path}'`);
  // Commands of one tick share one write: bare ioredis at its fastest (loadtest/README.md).
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  await redis.ping();
  return {
    // Commands are written without waiting for earlier replies, so publishes pipeline.
    publish: async (userId, data) => {
      await redis.publish('u:' + userId, JSON.stringify(data));
    },
    close: async () => {
      await redis.quit();
    },
  };
}
