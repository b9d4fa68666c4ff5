import { connect } from 'node:net';
import { storageLayout } from '@herald/publisher-sdk/storage';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { TEST_PUBLISH_KEY } from '../support/tokens.js';

function publishRequest(userId: string, n: number): string {
  const body = JSON.stringify({ user_id: userId, type: 'agent_thinking', data: { n } });
  return (
    `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TEST_PUBLISH_KEY}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

/** Sends the pieces on one connection (each after its delay) and collects every response until the server closes or goes quiet. */
function exchange(port: number, pieces: ReadonlyArray<{ readonly data: string; readonly afterMs: number }>, expected: number): Promise<RawAnswer[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const answers = (): RawAnswer[] => {
      const found: RawAnswer[] = [];
      let rest = received;
      for (;;) {
        const head = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(rest);
        if (!head) return found;
        const length = Number(/content-length: (\d+)/i.exec(head[2] ?? '')?.[1] ?? '0');
        const start = head[0].length;
        if (rest.length < start + length) return found;
        found.push({ status: Number(head[1]), body: rest.slice(start, start + length) });
        rest = rest.slice(start + length);
      }
    };
    const finish = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(answers());
    };
    let quiet = setTimeout(finish, 3000);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (answers().length >= expected) finish();
    });
    socket.on('close', finish);
    socket.on('error', (error) => (received === '' ? reject(error) : finish()));
    socket.on('connect', () => {
      let at = 0;
      for (const piece of pieces) {
        at += piece.afterMs;
        setTimeout(() => socket.write(piece.data), at);
      }
      clearTimeout(quiet);
      quiet = setTimeout(finish, at + 3000);
    });
  });
}

describe('pipelined POST /v1/publish (real Redis behind a slow link)', () => {
  let redis: RedisServer;
  let slowLink: TcpProxy;
  let node: TestGateway;

  beforeAll(async () => {
    redis = await startRedisServer();
    // Every Redis answer takes 100 ms, so a publish is surely in flight when the next request comes.
    slowLink = await startTcpProxy(redis.port, { onConnection: (connection) => (connection.replyDelayMs = () => 100) });
    node = await startTestGateway({ REDIS_URL: `redis://127.0.0.1:${slowLink.port}` });
  });
  afterAll(async () => {
    await node.stop();
    await slowLink.close();
    await redis.stop();
  });

  async function stored(userId: string): Promise<number> {
    const client = redis.client();
    try {
      return await client.xlen(storageLayout().userHistory(userId));
    } finally {
      client.disconnect();
    }
  }

  it('answers a request that arrives while the previous publish is in flight, in order', async () => {
    const answers = await exchange(
      node.gateway.port,
      [
        { data: publishRequest('piped', 1), afterMs: 0 },
        { data: publishRequest('piped', 2), afterMs: 30 },
      ],
      2,
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    const numbers = answers.map((answer) => Number((JSON.parse(answer.body) as { event_id: string }).event_id.split('-')[1]));
    expect(numbers).toEqual([1, 2]);
    expect(await stored('piped')).toBe(2);
  });

  it.each([
    ['two requests in one write', [0], 2],
    ['five requests in one write', [0], 5],
    ['three requests 30 ms apart (the last two wait together)', [0, 30, 30], 3],
    ['four requests, two by two', [0, 0, 150, 0], 4],
  ])('never commits a publish it does not answer: %s', async (_label, delays, count) => {
    const user = `together-${count}-${delays.length}`;
    const requests = Array.from({ length: count }, (_, n) => publishRequest(user, n));
    const pieces =
      delays.length === 1
        ? [{ data: requests.join(''), afterMs: 0 }]
        : requests.map((data, n) => ({ data, afterMs: delays[n] ?? 0 }));
    const answers = await exchange(node.gateway.port, pieces, count);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // uWS answers asynchronous requests one at a time: requests it reads together while one is
    // pending make it drop the connection, and the gateway then runs none of them.
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(await stored(user)).toBe(answers.length);
    const numbers = answers.map((answer) => Number((JSON.parse(answer.body) as { event_id: string }).event_id.split('-')[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
  });
});
