import { request } from 'node:http';
import { TestClient } from '../support/clients.js';
import { broadcastResultLike } from '../support/expectations.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { postPublish } from '../support/publish.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY, signTestToken } from '../support/tokens.js';

interface ErrorAnswer {
  readonly error: { readonly code: string; readonly message: string; readonly field?: string };
}

/** Streams a body with chunked encoding (no Content-Length), as a client that does not know its size would. */
function postChunked(httpUrl: string, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${httpUrl}/v1/publish`,
      // agent: false closes the connection once answered (see test/support/fetch-closes-connections.ts).
      { method: 'POST', agent: false, headers: { authorization: `Bearer ${TEST_PUBLISH_KEY}`, 'transfer-encoding': 'chunked' } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('POST /v1/publish', () => {
  let node: TestGateway;
  let watcher: TestClient;

  beforeAll(async () => {
    node = await startTestGateway({ MAX_PUBLISH_BYTES: '2048', MAX_BUFFERED_BYTES: '65536' });
    watcher = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'watched' }) });
  });
  afterAll(async () => {
    watcher.terminate();
    await node.stop();
  });

  it('publishes to the user and answers with the BroadcastResult', async () => {
    const answer = await postPublish(node.httpUrl, { user_id: 'watched', type: 'tool_executing', run_id: 'r7', data: { tool: 'grep' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(broadcastResultLike({ user_id: 'watched', event_type: 'tool_executing', nodes_reached: 1 }));
    const events = await watcher.waitForEvents(1);
    expect(events.at(-1)).toMatchObject({ id: answer.body.event_id, type: 'tool_executing', run_id: 'r7' });
  });

  it.each([
    ['no key', null],
    ['a wrong key', 'wrong-key-wrong-key-wrong'],
    ['the JWT secret instead of the publish key', TEST_JWT_SECRET],
  ])('refuses %s with 401 and publishes nothing', async (_label, key) => {
    const before = watcher.events().length;
    const answer = await postPublish<ErrorAnswer>(node.httpUrl, { user_id: 'watched', type: 'agent_started' }, key);
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('unauthorized');
    expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watcher.events()).toHaveLength(before);
  });

  it.each([
    ['bad JSON', '{"user_id": "watched",', 'invalid_json', undefined],
    ['an unknown field', { user_id: 'watched', type: 'agent_started', priority: 'high' }, 'unknown_field', 'priority'],
    ['a bad type', { user_id: 'watched', type: 'AgentStarted' }, 'invalid_type', 'type'],
    ['a reserved type', { user_id: 'watched', type: 'herald.welcome' }, 'invalid_type', 'type'],
    ['a missing user_id', { type: 'agent_started' }, 'missing_field', 'user_id'],
    ['a bad user_id', { user_id: 'a\tb', type: 'agent_started' }, 'invalid_user_id', 'user_id'],
    ['an oversized payload', { user_id: 'watched', type: 'agent_started', data: 'x'.repeat(3000) }, 'payload_too_large', undefined],
    ['a user_id with a lone surrogate', '{"user_id":"watched\\ud800","type":"agent_started"}', 'invalid_user_id', 'user_id'],
    ['an idempotency_key with a lone surrogate', '{"user_id":"watched","type":"agent_started","idempotency_key":"k\\udc00"}', 'invalid_idempotency_key', 'idempotency_key'],
    [
      'a body that is not UTF-8',
      Buffer.concat([Buffer.from('{"user_id":"watched'), Buffer.from([0xff]), Buffer.from('","type":"agent_started"}')]),
      'invalid_utf8',
      undefined,
    ],
  ])('answers %s with 400 and a clear message', async (_label, body, code, field) => {
    const answer = await postPublish<ErrorAnswer>(node.httpUrl, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.field).toBe(field);
    expect(answer.body.error.message.length).toBeGreaterThan(10);
  });

  it('publishes nothing for a body that is not UTF-8, even to the user it would decode to', async () => {
    const before = watcher.events().length;
    const body = Buffer.concat([Buffer.from('{"user_id":"watched'), Buffer.from([0xef, 0xbf]), Buffer.from('","type":"agent_started"}')]);
    expect((await postPublish<ErrorAnswer>(node.httpUrl, body)).status).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(watcher.events()).toHaveLength(before);
  });

  it('refuses an oversized body sent without Content-Length', async () => {
    const answer = await postChunked(node.httpUrl, ['{"user_id":"watched","type":"agent_started","data":"', 'y'.repeat(4000), '"}']);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).error.code).toBe('payload_too_large');
  });

  it('accepts a small chunked body', async () => {
    const answer = await postChunked(node.httpUrl, ['{"user_id":"watched",', '"type":"agent_completed"}']);
    expect(answer.status).toBe(200);
  });
});

describe('POST /v1/publish without HERALD_PUBLISH_KEY in production', () => {
  it('answers 404 publish_api_disabled', async () => {
    const node = await startTestGateway({ NODE_ENV: 'production', EMBEDDED_BROKER: 'true', HERALD_PUBLISH_KEY: '' });
    try {
      const answer = await postPublish<ErrorAnswer>(node.httpUrl, { user_id: 'u', type: 'agent_started' });
      expect(answer.status).toBe(404);
      expect(answer.body.error.code).toBe('publish_api_disabled');
    } finally {
      await node.stop();
    }
  });
});
