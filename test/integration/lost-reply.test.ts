import { createHash } from 'node:crypto';
import { HeraldPublishOutcomeUnknownError, createPublisher, type Publisher } from '@herald/publisher-sdk';
import { PUBLISH_SCRIPT, storageLayout } from '@herald/publisher-sdk/storage';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { postPublish } from '../support/publish.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { TEST_JWT_SECRET, TEST_PUBLISH_KEY } from '../support/tokens.js';

const PUBLISH_SHA = createHash('sha1').update(PUBLISH_SCRIPT).digest('hex');
const PONG = Buffer.from('+PONG\r\n');
const NOSCRIPT = Buffer.from('-NOSCRIPT');

interface OutcomeUnknownAnswer {
  readonly error: { readonly code: string; readonly idempotency_key: string; readonly retry_before: string };
}

describe('a publish whose reply is lost after Redis ran it (real Redis, a proxy that drops the reply)', () => {
  let redis: RedisServer;
  let link: TcpProxy;
  /** Whether to drop the reply to the next publish script that passes, and the connection with it. */
  let loseReply: () => boolean = () => false;
  /** Called when a reply is dropped, before the connection goes. */
  let onReplyLost: () => void = () => {};
  const publishers: Publisher[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    link = await startTcpProxy(redis.port, {
      onClientChunk: (connection, chunk) => {
        if (chunk.includes(PUBLISH_SHA) && loseReply()) connection.cutOnNextReply = true;
      },
      onServerChunk: (connection, chunk) => {
        if (!connection.cutOnNextReply) return chunk;
        // Not the script's reply: the gateway's health checks share its connection, and a Redis
        // that does not know the script yet answers NOSCRIPT (the script follows in full).
        if (chunk.equals(PONG) || chunk.subarray(0, NOSCRIPT.length).equals(NOSCRIPT)) {
          connection.cutOnNextReply = false;
          queueMicrotask(() => (connection.cutOnNextReply = true));
          return chunk;
        }
        onReplyLost();
        return chunk;
      },
    });
  });
  afterEach(async () => {
    loseReply = () => false;
    onReplyLost = () => {};
    await Promise.all(publishers.splice(0).map((publisher) => publisher.close()));
  });
  afterAll(async () => {
    await link.close();
    await redis.stop();
  });

  function publisherThroughLink(retries = 3): Publisher {
    const publisher = createPublisher({
      redisUrl: `redis://127.0.0.1:${link.port}`,
      retry: { retries, baseDelayMs: 10, maxDelayMs: 50 },
      commandTimeoutMs: 1000,
    });
    publishers.push(publisher);
    return publisher;
  }

  function direct(): Publisher {
    const publisher = createPublisher({ redisUrl: redis.url });
    publishers.push(publisher);
    return publisher;
  }

  async function stored(userId: string): Promise<Array<[string, string[]]>> {
    const client = redis.client();
    try {
      return await client.xrange(storageLayout().userHistory(userId), '-', '+');
    } finally {
      client.disconnect();
    }
  }

  async function delivered(userId: string, during: () => Promise<void>): Promise<string[]> {
    const subscriber = redis.client();
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(storageLayout().userEvents(userId));
    try {
      await during();
      await new Promise((resolve) => setTimeout(resolve, 100));
      return messages;
    } finally {
      subscriber.disconnect();
    }
  }

  it("completes the publish with the SDK's own retry and reports it as the success it was, stored and delivered once", async () => {
    let lost = 0;
    loseReply = () => ++lost === 1;
    const publisher = publisherThroughLink();
    let result;
    const messages = await delivered('once', async () => {
      result = await publisher.agentStarted('once', 'r1', { n: 1 });
    });
    expect(lost).toBeGreaterThanOrEqual(2);
    expect(result).toMatchObject({ duplicate: false, nodes_reached: 1 });
    expect((await stored('once')).map(([id]) => id)).toEqual([(result as unknown as { event_id: string }).event_id]);
    expect(messages).toHaveLength(1);
  });

  it.each([
    ['a key the SDK generated', undefined],
    ['the caller’s key', 'caller-key-7'],
  ])('rejects with %s when no reply ever comes back, and a retry with it publishes nothing new', async (_label, idempotencyKey) => {
    const user = `never-${idempotencyKey ?? 'auto'}`;
    loseReply = () => true;
    const error = await publisherThroughLink(2)
      .agentStarted(user, 'r1', { n: 1 }, idempotencyKey === undefined ? {} : { idempotencyKey })
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(HeraldPublishOutcomeUnknownError);
    const unknown = error as HeraldPublishOutcomeUnknownError;
    if (idempotencyKey !== undefined) expect(unknown.idempotencyKey).toBe(idempotencyKey);
    const history = await stored(user);
    expect(history).toHaveLength(1);
    loseReply = () => false;
    const retry = await direct().agentStarted(user, 'r1', { n: 1 }, { idempotencyKey: unknown.idempotencyKey });
    expect(retry).toMatchObject({ duplicate: true, event_id: history[0]?.[0] });
    expect(await stored(user)).toHaveLength(1);
  });

  /** Publishes until the outcome is known, retrying with the key an unknown outcome names. */
  async function publishUntilKnown(publisher: Publisher, user: string, n: number): Promise<number> {
    let unknown = 0;
    let key: string | undefined;
    for (;;) {
      try {
        await publisher.agentThinking(user, 'r1', { n }, key === undefined ? {} : { idempotencyKey: key });
        return unknown;
      } catch (error) {
        if (!(error instanceof HeraldPublishOutcomeUnknownError)) throw error;
        unknown += 1;
        key = error.idempotencyKey;
      }
    }
  }

  async function storedNumbers(user: string): Promise<number[]> {
    const history = await stored(user);
    return history.map(([, fields]) => (JSON.parse(`{${fields[1] ?? ''}`) as { data: { n: number } }).data.n);
  }

  async function scriptCalls(): Promise<number> {
    const client = redis.client();
    try {
      const stats = await client.info('commandstats');
      return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    } finally {
      client.disconnect();
    }
  }

  it('stores exactly one event per logical publish while a third of the replies are lost', async () => {
    let lost = 0;
    loseReply = () => Math.random() < 0.33 && ++lost > 0;
    const publisher = publisherThroughLink();
    let unknown = 0;
    for (let n = 0; n < 60; n++) unknown += await publishUntilKnown(publisher, 'lossy', n);
    expect(await storedNumbers('lossy')).toEqual(Array.from({ length: 60 }, (_, n) => n));
    expect(lost).toBeGreaterThan(10);
    // Most losses are absorbed by the SDK's own retries; the rest reach the caller with a key.
    expect(unknown).toBeLessThan(lost);
  });

  it("stores exactly one event per logical publish, in each user's order, when the lost replies answer batches of events", async () => {
    let lost = 0;
    let calls = 0;
    // Every third script call loses its reply (and its connection, with any other batch in flight).
    loseReply = () => ++calls % 3 === 0 && ++lost > 0;
    const publisher = publisherThroughLink();
    const users = Array.from({ length: 8 }, (_, index) => `batched-${index}`);
    const callsBefore = await scriptCalls();
    await Promise.all(
      users.map(async (user) => {
        for (let n = 0; n < 30; n++) await publishUntilKnown(publisher, user, n);
      }),
    );
    const made = (await scriptCalls()) - callsBefore;
    for (const user of users) expect(await storedNumbers(user)).toEqual(Array.from({ length: 30 }, (_, n) => n));
    expect(lost).toBeGreaterThanOrEqual(5);
    // The users' publishes shared script calls: a lost reply left several events' outcomes unknown at once.
    expect(made).toBeLessThan(users.length * 30 * 0.5);
  });

  it('does not publish again when Redis restarted without its data after an unanswered attempt: the outcome stays unknown', async () => {
    const user = 'restarted';
    let restarting: Promise<void> | undefined;
    loseReply = () => true;
    onReplyLost = () => {
      loseReply = () => false;
      onReplyLost = () => {};
      restarting = redis.restart();
    };
    const error = await publisherThroughLink().agentStarted(user, 'r1', { n: 1 }).catch((reason: unknown) => reason);
    await restarting;
    expect(error).toBeInstanceOf(HeraldPublishOutcomeUnknownError);
    expect(String((error as Error).cause)).toMatch(/restarted/);
    expect(await stored(user)).toEqual([]);
  });

  describe('through POST /v1/publish', () => {
    let node: GatewayProcess;

    beforeAll(async () => {
      node = await startGatewayProcess({
        REDIS_URL: `redis://127.0.0.1:${link.port}`,
        JWT_SECRET: TEST_JWT_SECRET,
        HERALD_PUBLISH_KEY: TEST_PUBLISH_KEY,
      });
    });
    afterAll(async () => {
      await node.stop('SIGKILL');
    });

    it('answers 503 outcome_unknown with the key to retry with; the retry answers the same event as a duplicate', async () => {
      loseReply = () => true;
      const answer = await postPublish<OutcomeUnknownAnswer>(node.httpUrl, { user_id: 'http-lost', type: 'agent_started' });
      expect(answer.status).toBe(503);
      expect(answer.body.error).toMatchObject({ code: 'outcome_unknown', idempotency_key: expect.stringMatching(/^auto:/) });
      expect(Date.parse(answer.body.error.retry_before)).toBeGreaterThan(Date.now());
      const history = await stored('http-lost');
      expect(history).toHaveLength(1);
      loseReply = () => false;
      const retry = await postPublish(node.httpUrl, {
        user_id: 'http-lost',
        type: 'agent_started',
        idempotency_key: answer.body.error.idempotency_key,
      });
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ duplicate: true, event_id: history[0]?.[0] });
      expect(await stored('http-lost')).toHaveLength(1);
    });
  });
});
