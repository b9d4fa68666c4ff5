import { CloseCodes, compareEventIds, type BroadcastResult } from '@herald/protocol';
import { TestClient } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';

describe('resuming over a real socket', () => {
  let node: TestGateway;
  const clients: TestClient[] = [];

  async function publishMany(userId: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let n = 0; n < count; n++) {
      const answer = await postPublish<BroadcastResult>(node.httpUrl, { user_id: userId, type: 'agent_thinking', data: { n } });
      ids.push(answer.body.event_id);
    }
    return ids;
  }

  async function connect(sub: string, query = ''): Promise<TestClient> {
    const client = await TestClient.connect(`${node.wsUrl}${query}`, { token: await signTestToken({ sub }) });
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    node = await startTestGateway({ HISTORY_MAX_EVENTS: '5' });
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.terminate();
  });
  afterAll(async () => {
    await node.stop();
  });

  it('replays history after ?since=, then goes live, each event once', async () => {
    const ids = await publishMany('ann', 4);
    const client = await connect('ann', `?since=${ids[1]}`);
    await client.waitFor('resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    ids.push(...(await publishMany('ann', 2)));
    await client.waitForEvents(4);
    expect(client.events().map((event) => event.id)).toEqual(ids.slice(2));
    expect(client.frames.map((frame) => frame.type)).toEqual([
      'herald.welcome',
      'agent_thinking',
      'agent_thinking',
      'herald.resumed',
      'agent_thinking',
      'agent_thinking',
    ]);
  });

  it('resumes from a herald.resume sent as the first frame', async () => {
    const ids = await publishMany('bea', 3);
    const client = await connect('bea');
    client.send({ type: 'herald.resume', since: ids[0] });
    await client.waitFor('resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    expect(client.events().map((event) => event.id)).toEqual(ids.slice(1));
  });

  it('refuses herald.resume once anything else came first, and stays live', async () => {
    const ids = await publishMany('cat', 2);
    const client = await connect('cat');
    client.send({ type: 'herald.ping' });
    client.send({ type: 'herald.resume', since: ids[0] });
    await client.waitFor('the refusal', (frames) => frames.some((frame) => frame.type === 'herald.error'));
    expect(client.frames.find((frame) => frame.type === 'herald.error')).toMatchObject({ code: 'resume_too_late' });
    const [live] = await publishMany('cat', 1);
    await client.waitForEvents(1);
    expect(client.events().map((event) => event.id)).toEqual([live]);
  });

  it('answers a malformed ?since= with herald.error and stays live', async () => {
    const client = await connect('dan', '?since=yesterday');
    await client.waitFor('the error', (frames) => frames.some((frame) => frame.type === 'herald.error'));
    expect(client.frames[1]).toMatchObject({ type: 'herald.error', code: 'invalid_since' });
    const [live] = await publishMany('dan', 1);
    await client.waitForEvents(1);
    expect(client.events()[0]?.id).toBe(live);
  });

  it('answers a since beyond the history with herald.gap, and never reuses its ids', async () => {
    const [last] = await publishMany('eli', 1);
    const [epoch, n] = (last ?? '').split('-');
    const ahead = `${epoch}-${Number(n) + 10}`;
    const client = await connect('eli', `?since=${ahead}`);
    await client.waitFor('resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    expect(client.frames.slice(1)).toEqual([
      { type: 'herald.gap', since: ahead, oldest: null },
      { type: 'herald.resumed', since: ahead, replayed: 0 },
    ]);
    const [next] = await publishMany('eli', 1);
    await client.waitForEvents(1);
    expect(client.events().map((event) => event.id)).toEqual([next]);
    expect(compareEventIds(next ?? '', ahead)).toBeGreaterThan(0);
  });

  it('answers a since implausibly far ahead with herald.error', async () => {
    await publishMany('eli2', 1);
    const client = await connect('eli2', `?since=${Date.now() + 10 * 24 * 3600 * 1000}-1`);
    await client.waitFor('the error', (frames) => frames.some((frame) => frame.type === 'herald.error'));
    expect(client.frames[1]).toMatchObject({ type: 'herald.error', code: 'invalid_since' });
  });

  it('sends herald.gap before what history still holds when trimming took events after since', async () => {
    const ids = await publishMany('fay', 9);
    const client = await connect('fay', `?since=${ids[0]}`);
    await client.waitFor('resumed', (frames) => frames.some((frame) => frame.type === 'herald.resumed'));
    expect(client.frames[1]).toEqual({ type: 'herald.gap', since: ids[0], oldest: ids[4] });
    expect(client.events().map((event) => event.id)).toEqual(ids.slice(4));
  });

  it('closes the socket with 4001 when its token expires', async () => {
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'gil', expiresIn: 2 }) });
    clients.push(client);
    expect(await client.waitForClose(5000)).toEqual({ code: CloseCodes.TOKEN_EXPIRED.code, reason: 'expired' });
  });
});

describe('POST /v1/publish idempotency and receipts', () => {
  let node: TestGateway;

  beforeAll(async () => {
    node = await startTestGateway();
  });
  afterAll(async () => {
    await node.stop();
  });

  it('publishes once per idempotency_key and marks the retry duplicate', async () => {
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'hal' }) });
    try {
      const body = { user_id: 'hal', type: 'agent_completed', run_id: 'r1', idempotency_key: 'run-r1-done' };
      const first = await postPublish<BroadcastResult>(node.httpUrl, body);
      const retry = await postPublish<BroadcastResult>(node.httpUrl, body);
      expect(first.body.duplicate).toBe(false);
      expect(retry.body).toMatchObject({ event_id: first.body.event_id, duplicate: true, nodes_reached: 0 });
      await client.waitForEvents(1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(client.events()).toHaveLength(1);
    } finally {
      client.terminate();
    }
  });

  it('reports connections reached when asked to confirm', async () => {
    const clients = await Promise.all(
      [1, 2].map(async () => TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'ivy' }) })),
    );
    try {
      const answer = await postPublish<BroadcastResult>(node.httpUrl, { user_id: 'ivy', type: 'agent_started', confirm: true });
      expect(answer.body).toMatchObject({ nodes_reached: 1, connections_attempted: 2, successful_sends: 2, errors: [] });
    } finally {
      for (const client of clients) client.terminate();
    }
  });
});
