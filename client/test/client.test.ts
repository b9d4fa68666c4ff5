import { DEFAULT_RETENTION } from '@herald/publisher-sdk/storage';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { MemoryBroker, MemoryBus } from '@herald/gateway';
import { connect, reconnectDelay, type HeraldClient, type WebSocketConstructor } from '../src/index.js';
import { RestartableNode } from '../../test/support/restartable-node.js';
import { freePort } from '../../test/support/ports.js';
import { postPublish } from '../../test/support/publish.js';
import { signTestToken } from '../../test/support/tokens.js';
import { waitUntil } from '../../test/support/wait.js';
import type { EventEnvelope, GapFrame } from '@herald/protocol';

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

async function publisherOn(bus: MemoryBus): Promise<MemoryBroker> {
  const broker = new MemoryBroker({ bus });
  await broker.start();
  return broker;
}

function record(client: HeraldClient): { events: EventEnvelope[]; gaps: GapFrame[] } {
  const seen = { events: [] as EventEnvelope[], gaps: [] as GapFrame[] };
  client.on('event', (event) => seen.events.push(event));
  client.on('gap', (gap) => seen.gaps.push(gap));
  return seen;
}

/** A stand-in gateway on a free port: `onConnection` answers each socket; it stops once `use` settles. */
async function withFakeGateway(
  onConnection: (socket: WebSocket, request: IncomingMessage) => void,
  use: (url: string) => Promise<void>,
): Promise<void> {
  const server = new WebSocketServer({ port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
  server.on('connection', onConnection);
  try {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await use(`ws://127.0.0.1:${port}`);
  } finally {
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** An event frame for user u, as a gateway sends it. */
const event = (id: string) => JSON.stringify({ id, type: 'agent_thinking', ts: 1, user_id: 'u', data: null });
/** The welcome frame for user u, starting at `since`. */
const welcomeFrame = (since: string) =>
  JSON.stringify({ type: 'herald.welcome', protocol: 1, node: 'n', user_id: 'u', connection_id: 'c', since });

describe('client', () => {
  const clients: HeraldClient[] = [];
  const nodes: RestartableNode[] = [];

  async function node(bus = new MemoryBus()): Promise<RestartableNode> {
    const restartable = new RestartableNode(bus, await freePort());
    await restartable.start();
    nodes.push(restartable);
    return restartable;
  }

  function open(options: Parameters<typeof connect>[0]): HeraldClient {
    const client = connect({ WebSocket: NodeWebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, ...options });
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(nodes.splice(0).map((restartable) => restartable.stop()));
  });

  it('closes without an error reaching the host while its socket is still connecting (Node ws)', async () => {
    // A server that accepts the connection and never answers the upgrade: the socket stays connecting.
    const silent = createServer(() => undefined);
    const accepted = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const client = open({ url: `ws://127.0.0.1:${port}/ws`, token: 't' });
      await accepted;
      expect(client.state).toBe('connecting');
      client.close();
      // An error emitted with no listener would be thrown now, on the next tick.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(client.state).toBe('closed');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('delivers events in order through the iterator and tracks the last id', async () => {
    const gateway = await node();
    const client = open({ url: gateway.url, token: await signTestToken({ sub: 'ada' }) });
    const iterator = client.events();
    await waitUntil('the client to be open', () => client.state === 'open');
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const answer = await postPublish(gateway.node?.httpUrl ?? '', { user_id: 'ada', type: 'agent_thinking', data: { n } });
      ids.push(answer.body.event_id);
    }
    const received: string[] = [];
    for await (const event of iterator) {
      received.push(event.id);
      if (received.length === 5) break;
    }
    expect(received).toEqual(ids);
    expect(client.lastEventId).toBe(ids[4]);
  });

  it('reconnects when its node goes away and resumes without loss or duplicates', async () => {
    const gateway = await node();
    const publisher = await publisherOn(gateway.bus);
    const client = open({ url: gateway.url, getToken: () => signTestToken({ sub: 'bo' }) });
    const seen = record(client);
    const resumed: unknown[] = [];
    client.on('resumed', (frame) => resumed.push(frame));
    await waitUntil('open', () => client.state === 'open');

    const ids: string[] = [];
    const publish = async (n: number) => ids.push((await publisher.publish({ user_id: 'bo', type: 'agent_thinking', data: { n } })).event_id);
    for (let n = 0; n < 3; n++) await publish(n);
    await waitUntil('three events', () => seen.events.length === 3);

    await gateway.stop();
    await waitUntil('the client to notice', () => client.state === 'reconnecting');
    for (let n = 3; n < 6; n++) await publish(n);
    await gateway.start();
    await waitUntil('the missed events', () => seen.events.length === 6);
    for (let n = 6; n < 9; n++) await publish(n);
    await waitUntil('live events after the resume', () => seen.events.length === 9);

    expect(seen.events.map((event) => event.id)).toEqual(ids);
    expect(resumed).toEqual([{ type: 'herald.resumed', since: ids[2], replayed: 3 }]);
    expect(seen.gaps).toEqual([]);
    expect(client.stats).toEqual({ connections: expect.any(Number), duplicatesDropped: 0, holesDetected: 0 });
    await publisher.close();
  });

  it('surfaces herald.gap when history no longer covers the interruption', async () => {
    const gateway = await node(new MemoryBus({ retention: { ...DEFAULT_RETENTION, maxEvents: 2 } }));
    const publisher = await publisherOn(gateway.bus);
    const client = open({ url: gateway.url, token: await signTestToken({ sub: 'cy' }) });
    const seen = record(client);
    await waitUntil('open', () => client.state === 'open');
    const first = (await publisher.publish({ user_id: 'cy', type: 'agent_started', data: null })).event_id;
    await waitUntil('the first event', () => seen.events.length === 1);

    await gateway.stop();
    const missed: string[] = [];
    for (let n = 0; n < 5; n++) missed.push((await publisher.publish({ user_id: 'cy', type: 'agent_thinking', data: { n } })).event_id);
    await gateway.start();
    await waitUntil('the gap and what history still holds', () => seen.events.length === 3);

    expect(seen.gaps).toEqual([{ type: 'herald.gap', since: first, oldest: missed[3] }]);
    expect(seen.events.map((event) => event.id)).toEqual([first, missed[3], missed[4]]);
    await publisher.close();
  });

  it('asks getToken before every connection', async () => {
    const gateway = await node();
    let calls = 0;
    const client = open({
      url: gateway.url,
      getToken: () => {
        calls += 1;
        return signTestToken({ sub: 'di' });
      },
    });
    await waitUntil('open', () => client.state === 'open');
    await gateway.stop();
    await gateway.start();
    await waitUntil('open again', () => client.state === 'open' && calls === 2);
  });

  it('renews its token when the gateway closes the socket at expiry', async () => {
    const gateway = await node();
    let calls = 0;
    const closes: number[] = [];
    const client = open({
      url: gateway.url,
      getToken: () => signTestToken({ sub: 'ed', expiresIn: ++calls === 1 ? 1 : 600 }),
    });
    client.on('close', (info) => closes.push(info.code));
    await waitUntil('a renewed connection', () => calls === 2 && client.state === 'open', 5000);
    expect(closes).toEqual([4001]);
  });

  it('stops as unauthorized when the token expires and it cannot renew it', async () => {
    const gateway = await node();
    const client = open({ url: gateway.url, token: await signTestToken({ sub: 'fe', expiresIn: 1 }) });
    const stopped: unknown[] = [];
    client.on('unauthorized', (info) => stopped.push(info));
    await waitUntil('the client to stop', () => client.state === 'unauthorized', 5000);
    expect(stopped).toEqual([{ code: 4001, reason: 'expired' }]);
  });

  it('reconnects when a silent connection stops answering pings', async () => {
    let connections = 0;
    await withFakeGateway((socket) => {
      connections += 1;
      socket.send(JSON.stringify({ type: 'herald.welcome', protocol: 1, node: 'mute', user_id: 'u', connection_id: 'c' }));
    }, async (url) => {
      const client = open({ url, token: 't', pingIntervalMs: 50 });
      await waitUntil('a second connection', () => connections >= 2, 5000);
      expect(client.stats.connections).toBeGreaterThanOrEqual(2);
    });
  });

  it('drops an event that does not follow the last one and resumes from the last it had', async () => {
    const urls: string[] = [];
    await withFakeGateway((socket, request) => {
      urls.push(request.url ?? '');
      socket.send(welcomeFrame('100-0'));
      if (urls.length === 1) {
        // 100-3 goes missing: a gateway bug the client must not hide.
        for (const id of ['100-1', '100-2', '100-4']) socket.send(event(id));
      } else {
        for (const id of ['100-3', '100-4', '100-5']) socket.send(event(id));
      }
    }, async (url) => {
      const client = open({ url, token: 't' });
      const seen = record(client);
      const errors: unknown[] = [];
      client.on('error', (error) => errors.push(error));
      await waitUntil('the events after the resume', () => seen.events.length === 5, 5000);
      expect(seen.events.map((e) => e.id)).toEqual(['100-1', '100-2', '100-3', '100-4', '100-5']);
      expect(urls[1]).toContain('since=100-2');
      expect(client.stats).toMatchObject({ holesDetected: 1, duplicatesDropped: 0 });
      expect(String(errors[0])).toContain('events are missing before 100-4');
    });
  });

  it('accepts a jump announced by herald.gap, the first event of a newer history included', async () => {
    await withFakeGateway((socket) => {
      socket.send(welcomeFrame('100-0'));
      socket.send(event('100-1'));
      socket.send(JSON.stringify({ type: 'herald.gap', since: '100-1', oldest: '100-7' }));
      socket.send(event('100-7'));
      socket.send(JSON.stringify({ type: 'herald.gap', since: '100-7', oldest: '200-1' }));
      socket.send(event('200-1'));
    }, async (url) => {
      const client = open({ url, token: 't' });
      const seen = record(client);
      await waitUntil('three events', () => seen.events.length === 3, 5000);
      expect(seen.events.map((e) => e.id)).toEqual(['100-1', '100-7', '200-1']);
      expect(client.stats).toMatchObject({ connections: 1, holesDetected: 0 });
    });
  });

  it('resumes when a newer history begins without herald.gap: the end of the old one may be missing', async () => {
    const urls: string[] = [];
    await withFakeGateway((socket, request) => {
      urls.push(request.url ?? '');
      socket.send(welcomeFrame('100-0'));
      if (urls.length === 1) {
        // 100-2 went missing right before a new history began.
        for (const id of ['100-1', '200-1']) socket.send(event(id));
      } else {
        socket.send(event('100-2'));
        socket.send(JSON.stringify({ type: 'herald.gap', since: '100-2', oldest: '200-1' }));
        socket.send(event('200-1'));
      }
    }, async (url) => {
      const client = open({ url, token: 't' });
      const seen = record(client);
      client.on('error', () => undefined);
      await waitUntil('the events after the resume', () => seen.events.length === 3, 5000);
      expect(seen.events.map((e) => e.id)).toEqual(['100-1', '100-2', '200-1']);
      expect(urls[1]).toContain('since=100-1');
      expect(client.stats).toMatchObject({ holesDetected: 1 });
    });
  });

  it('tells the application of a gap when the gateway refuses its position', async () => {
    await withFakeGateway((socket) => {
      socket.send(welcomeFrame('100-3'));
      socket.send(JSON.stringify({ type: 'herald.error', code: 'invalid_since', message: 'no' }));
      socket.send(event('100-4'));
    }, async (url) => {
      const client = open({ url, token: 't', since: '999-9' });
      const seen = record(client);
      client.on('error', () => undefined);
      await waitUntil('the event', () => seen.events.length === 1, 5000);
      expect(seen.gaps).toEqual([{ type: 'herald.gap', since: '999-9', oldest: null }]);
      expect(seen.events.map((e) => e.id)).toEqual(['100-4']);
    });
  });

  it("starts afresh, with a gap, when getToken starts naming another user: it never resumes one user's stream from another's position", async () => {
    const urls: string[] = [];
    await withFakeGateway((socket, request) => {
      urls.push(request.url ?? '');
      const user = urls.length === 1 ? 'amy' : 'ben';
      socket.send(JSON.stringify({ type: 'herald.welcome', protocol: 1, node: 'n', user_id: user, connection_id: 'c', since: '100-5' }));
      if (urls.length === 1) {
        socket.send(JSON.stringify({ id: '100-6', type: 'agent_thinking', ts: 1, user_id: 'amy', data: null }));
        setTimeout(() => socket.terminate(), 20);
      }
    }, async (url) => {
      const client = open({ url, token: 't', reconnect: { initialDelayMs: 1, maxDelayMs: 5 } });
      const seen = record(client);
      client.on('error', () => undefined);
      await waitUntil('a connection without since after the switch', () => urls.length >= 3, 5000);
      expect(urls[1]).toContain('since=100-6');
      expect(urls[2]).not.toContain('since=');
      expect(seen.gaps).toEqual([{ type: 'herald.gap', since: '100-6', oldest: null }]);
      client.close();
    });
  });

  it("never sends one user's position with another user's token", async () => {
    const urls: string[] = [];
    const jwt = (sub: string) => `h.${Buffer.from(JSON.stringify({ sub, exp: 1 })).toString('base64url')}.s`;
    await withFakeGateway((socket, request) => {
      urls.push(request.url ?? '');
      const user = urls.length <= 2 ? 'amy' : 'ben';
      socket.send(JSON.stringify({ type: 'herald.welcome', protocol: 1, node: 'n', user_id: user, connection_id: 'c', since: '100-5' }));
      if (urls.length === 1) socket.send(JSON.stringify({ id: '100-6', type: 'agent_thinking', ts: 1234, user_id: 'amy', data: null }));
      if (urls.length <= 2) setTimeout(() => socket.terminate(), 20);
    }, async (url) => {
      let tokens = 0;
      const client = open({
        url: url,
        getToken: () => jwt(++tokens <= 2 ? 'amy' : 'ben'),
        reconnect: { initialDelayMs: 1, maxDelayMs: 5 },
      });
      const seen = record(client);
      client.on('error', () => undefined);
      await waitUntil('the connection as the other user', () => urls.length >= 3, 5000);
      expect(urls[1]).toContain('since=100-6');
      expect(urls[2]).not.toContain('since');
      expect(seen.gaps).toEqual([{ type: 'herald.gap', since: '100-6', oldest: null }]);
      client.close();
    });
  });

  it('ends its iterators and stops reconnecting once closed', async () => {
    const gateway = await node();
    const client = open({ url: gateway.url, token: await signTestToken({ sub: 'gu' }) });
    const iterator = client.events();
    await waitUntil('open', () => client.state === 'open');
    client.close();
    expect(client.state).toBe('closed');
    await expect(iterator.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it('refuses bad options', () => {
    expect(() => connect({ url: 'ws://x', WebSocket: NodeWebSocket })).toThrow('give token or getToken');
    expect(() => connect({ url: 'ws://x', token: 't', since: 'nope', WebSocket: NodeWebSocket })).toThrow(/since must be an event id/);
  });
});

describe('reconnect backoff', () => {
  it('draws a delay between 0 and an exponentially growing, capped ceiling', () => {
    expect(reconnectDelay(0, {}, () => 0.999)).toBe(249);
    expect(reconnectDelay(3, {}, () => 0.5)).toBe(1000);
    expect(reconnectDelay(20, { maxDelayMs: 5000 }, () => 0.999)).toBe(4995);
    expect(reconnectDelay(5, {}, () => 0)).toBe(0);
  });
});
