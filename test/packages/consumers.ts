/**
 * Programs a team would write against the installed SDK packages: each connects a client for one
 * user, publishes one golden-path event to that user through the publisher SDK, waits for the
 * client to receive it and prints `{ published, received, type }` as JSON. They read REDIS_URL,
 * WS_URL, TOKEN and USER_ID from the environment.
 */

const BODY = `
const { REDIS_URL, WS_URL, TOKEN, USER_ID } = process.env;

async function main() {
  const client = connect({ url: WS_URL, token: TOKEN, WebSocket });
  const welcomed = new Promise((resolve) => client.on('welcome', resolve));
  const received = new Promise((resolve, reject) => {
    client.on('event', resolve);
    setTimeout(() => reject(new Error('no event within 10 s')), 10_000).unref();
  });
  await welcomed;
  const publisher = createPublisher({ redisUrl: REDIS_URL });
  const result = await publisher.agentStarted(USER_ID, 'run-1', { model: 'm' });
  const event = await received;
  client.close();
  await publisher.close();
  console.log(JSON.stringify({ published: result.event_id, received: event.id, type: event.type }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

export const COMMONJS_CONSUMER = `'use strict';
const { createPublisher } = require('@herald/publisher-sdk');
const { connect } = require('@herald/client');
const WebSocket = require('ws');
${BODY}`;

export const ESM_CONSUMER = `import { createPublisher } from '@herald/publisher-sdk';
import { connect } from '@herald/client';
import WebSocket from 'ws';
${BODY}`;

/** Typed: checked by `tsc --strict` without skipLibCheck, so the packages' declarations are too. */
const TYPED_BODY = `
async function main(): Promise<void> {
  const env = (name: string): string => {
    const value = process.env[name];
    if (value === undefined) throw new Error(\`\${name} is not set\`);
    return value;
  };
  const client: HeraldClient = connect({ url: env('WS_URL'), token: env('TOKEN'), WebSocket: WebSocket as unknown as WebSocketConstructor });
  const welcomed = new Promise<void>((resolve) => client.on('welcome', () => resolve()));
  const received = new Promise<EventEnvelope>((resolve, reject) => {
    client.on('event', resolve);
    setTimeout(() => reject(new Error('no event within 10 s')), 10_000).unref();
  });
  await welcomed;
  const publisher: Publisher = createPublisher({ redisUrl: env('REDIS_URL') });
  const result: BroadcastResult = await publisher.agentStarted(env('USER_ID'), 'run-1', { model: 'm' });
  const event = await received;
  client.close();
  await publisher.close();
  console.log(JSON.stringify({ published: result.event_id, received: event.id, type: event.type }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
`;

const TYPED_IMPORTS = `import { createPublisher, type Publisher, type BroadcastResult } from '@herald/publisher-sdk';
import { connect, type EventEnvelope, type HeraldClient, type WebSocketConstructor } from '@herald/client';
import WebSocket from 'ws';
// The browser bundle's entry has the same API, and its types.
type BrowserConnect = typeof import('@herald/client/browser').connect;
const sameApi: BrowserConnect = connect;
void sameApi;
`;

/**
 * Written as consumer.ts, compiled to CommonJS (the project's package.json has no "type"), it
 * resolves the packages' `require` types; as consumer.mts, their `import` types.
 */
export const TYPESCRIPT_CONSUMER = TYPED_IMPORTS + TYPED_BODY;

export const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    esModuleInterop: true,
    skipLibCheck: false,
    types: ['node'],
    outDir: 'out',
  },
  files: ['consumer.ts', 'consumer.mts'],
};
