// Herald as a system under test: gateway nodes (directly, or behind HAProxy with --fleet), the
// publisher SDK or POST /v1/publish, and sockets speaking Herald's wire protocol.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CONTROL_FRAME_PREFIX } from '@herald/protocol';
import { haproxyConfig, nodeEnv } from '../../scripts/local-fleet.mjs';
import { freePort, until } from '../lib/ports.mjs';
import { Children, atExit } from '../lib/children.mjs';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const thisCheckout = fileURLToPath(new URL('../..', import.meta.url));
const EVENT_TYPE = 'agent_thinking';

/**
 * Starts `nodes` gateway processes in production mode against `redisUrl`, or against the Redis
 * Cluster whose nodes `redisClusterNodes` lists ("host:port"); with `fleet`, HAProxy in front of
 * them (deploy/haproxy/haproxy.cfg) and clients connect through it. `checkout` is the Herald
 * checkout whose builds run (gateway and SDK): this one, or another, to compare two versions on
 * the same machine.
 */
export async function start({ redisUrl, redisClusterNodes, secret, nodes, fleet = false, env = {}, nodeArgs = [], checkout = thisCheckout }) {
  const gatewayPath = join(checkout, 'gateway/dist/main.js');
  const children = new Children();
  const publishKey = randomBytes(24).toString('base64url');
  const started = [];
  try {
    for (let i = 1; i <= nodes; i++) {
      const node = { id: `gateway-${i}`, port: await freePort(), adminPort: await freePort() };
      node.process = children.spawn(node.id, process.execPath, [...nodeArgs, gatewayPath], {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        ...nodeEnv(node, { redisUrl, secret, publishKey, behindProxy: fleet }),
        MAX_CONNECTIONS: '100000',
        MAX_CONNECTIONS_PER_USER: '1000',
        UPGRADE_RATE_PER_IP: '100000',
        UPGRADE_BURST_PER_IP: '100000',
        LOG_LEVEL: 'warn',
        ...(redisClusterNodes ? { REDIS_URL: undefined, REDIS_CLUSTER_NODES: redisClusterNodes.join(',') } : {}),
        ...env,
      });
      started.push(node);
    }
    for (const node of started) {
      await until(`${node.id} to be ready`, async () => (await fetch(`http://127.0.0.1:${node.adminPort}/readyz`).catch(() => undefined))?.ok === true);
    }
    let entryUrls = started.map((node) => `ws://127.0.0.1:${node.port}/ws`);
    let httpUrl = `http://127.0.0.1:${started[0].port}`;
    if (fleet) {
      const lbPort = await freePort();
      const fleetId = randomBytes(8).toString('hex');
      const configDirectory = mkdtempSync(join(tmpdir(), 'herald-loadtest-'));
      atExit(() => rmSync(configDirectory, { recursive: true, force: true }));
      const configPath = join(configDirectory, 'haproxy.cfg');
      writeFileSync(configPath, haproxyConfig(started, fleetId));
      children.spawn('haproxy', 'haproxy', ['-f', configPath], { PATH: process.env.PATH, HERALD_LB_PORT: String(lbPort) });
      await until('HAProxy to route to a ready node', async () => {
        const response = await fetch(`http://127.0.0.1:${lbPort}/ws`).catch(() => undefined);
        return response?.status === 426 && response.headers.get('x-herald-fleet') === fleetId;
      });
      entryUrls = [`ws://127.0.0.1:${lbPort}/ws`];
      httpUrl = `http://127.0.0.1:${lbPort}`;
    }
    return {
      wsUrls: entryUrls,
      pids: started.map((node) => node.process.pid),
      nodes: started.map((node) => ({ id: node.id, pid: node.process.pid, wsUrl: `ws://127.0.0.1:${node.port}/ws`, metricsUrl: `http://127.0.0.1:${node.adminPort}/metrics` })),
      metricsUrls: started.map((node) => `http://127.0.0.1:${node.adminPort}/metrics`),
      publishTarget: { redisUrl, redisClusterNodes, httpUrl, publishKey, sdkPath: join(checkout, 'publisher-sdk/dist/esm/index.js') },
      /** Stops one node as an operator would (SIGTERM: it drains) or as a crash does (SIGKILL). */
      stopNode: (index, signal) => children.stop(started[index].id, signal),
      stop: () => children.stopAll(),
    };
  } catch (error) {
    await children.stopAll();
    throw error;
  }
}

/**
 * Opens one socket for `userId` and resolves once it is welcomed (every later event reaches it).
 * `since` resumes after that event id. onEvent(data, id) for each event; onControl(frame) for
 * herald.gap and herald.resumed; onClose(code) when the server closes it.
 */
export function openSocket({ url, userId, token, since, onEvent, onControl = () => {}, onClose = () => {} }) {
  return new Promise((resolve, reject) => {
    const query = `token=${encodeURIComponent(token)}${since ? `&since=${encodeURIComponent(since)}` : ''}`;
    const socket = new WebSocket(`${url}?${query}`, { perMessageDeflate: false });
    let welcomed = false;
    let closedByUs = false;
    socket.on('message', (raw) => {
      const frame = JSON.parse(raw.toString());
      if (typeof frame.type === 'string' && frame.type.startsWith(CONTROL_FRAME_PREFIX)) {
        if (frame.type === 'herald.welcome') {
          if (frame.user_id !== userId) onEvent({ u: frame.user_id }, undefined);
          welcomed = true;
          resolve({ close: () => { closedByUs = true; socket.terminate(); }, since: frame.since });
        } else {
          onControl(frame);
        }
        return;
      }
      onEvent(frame.data, frame.id);
    });
    socket.on('error', (error) => {
      if (!welcomed) reject(error);
    });
    socket.on('unexpected-response', (_request, response) => {
      reject(new Error(`upgrade refused with ${response.statusCode}`));
      socket.terminate();
    });
    socket.on('close', (code) => {
      if (!welcomed) reject(new Error(`closed with ${code} before the welcome`));
      else if (!closedByUs) onClose(code);
    });
  });
}

/** How a backend publishes: the SDK (`sdk`) or POST /v1/publish (`http`). */
export async function createPublisher(target, { path }) {
  if (path === 'sdk') {
    const { createPublisher: createSdkPublisher } = await import(pathToFileURL(target.sdkPath ?? join(thisCheckout, 'publisher-sdk/dist/esm/index.js')).href);
    const publisher = createSdkPublisher(target.redisClusterNodes ? { cluster: target.redisClusterNodes } : { redisUrl: target.redisUrl });
    return {
      publish: (userId, data) => publisher.publish(userId, EVENT_TYPE, data),
      close: () => publisher.close(),
    };
  }
  if (path === 'http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const url = new URL('/v1/publish', target.httpUrl);
    const headers = { authorization: `Bearer ${target.publishKey}`, 'content-type': 'application/json' };
    return {
      publish: (userId, data) =>
        new Promise((resolve, reject) => {
          const request = http.request(url, { method: 'POST', headers, agent }, (response) => {
            const chunks = [];
            response.on('data', (chunk) => chunks.push(chunk));
            response.on('end', () => {
              if (response.statusCode === 200) resolve();
              else reject(new Error(`publish answered ${response.statusCode}: ${Buffer.concat(chunks).toString()}`));
            });
          });
          request.on('error', reject);
          request.end(JSON.stringify({ user_id: userId, type: EVENT_TYPE, data }));
        }),
      close: async () => agent.destroy(),
    };
  }
  throw new Error(`unknown publish path ${JSON.stringify(path)}: use sdk or http`);
}
