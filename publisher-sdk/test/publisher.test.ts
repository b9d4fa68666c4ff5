import { Redis } from 'ioredis';
import { compareEventIds, type EventEnvelope } from '@herald/protocol';
import { storageLayout } from '../src/storage/index.js';
import {
  HeraldPublishError,
  HeraldPublishOutcomeUnknownError,
  HeraldValidationError,
  createPublisher,
  type Publisher,
  type PublishOptions,
} from '../src/index.js';
import { freePort } from '../../test/support/ports.js';
import { broadcastResultLike } from '../../test/support/expectations.js';
import { startRedisServer, useRedisServer } from '../../test/support/redis-server.js';
import { waitUntil } from '../../test/support/wait.js';

const redis = useRedisServer();
let prefixes = 0;

/** A client set up as the SDK sets up its own connections: given to the SDK, it is used as is. */
function safeClient(): Redis {
  return new Redis({
    port: redis().port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
  });
}

/** The client, with EVALSHA (how the publish script runs) replaced, to inject failures. */
function withEvalsha(client: Redis, evalsha: (...args: Parameters<Redis['evalsha']>) => Promise<unknown>): Redis {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'evalsha') return evalsha;
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** A raw Redis subscriber standing in for a gateway node. */
async function listen(prefix: string, userId: string): Promise<{ messages: EventEnvelope[]; stop(): void }> {
  const subscriber = redis().client();
  const messages: EventEnvelope[] = [];
  subscriber.on('message', (_channel: string, message: string) => messages.push(JSON.parse(message) as EventEnvelope));
  await subscriber.subscribe(storageLayout(prefix).userEvents(userId));
  return { messages, stop: () => subscriber.disconnect() };
}

describe('publisher', () => {
  let prefix: string;
  let publisher: Publisher;

  beforeEach(() => {
    prefix = `sdk${++prefixes}`;
    publisher = createPublisher({ redisUrl: redis().url, channelPrefix: prefix });
  });
  afterEach(async () => {
    await publisher.close();
  });

  it("publishes the event on the user's channel and returns its BroadcastResult", async () => {
    const node = await listen(prefix, 'alice');
    try {
      const before = Date.now();
      const result = await publisher.publish('alice', 'agent_started', { model: 'm1' }, { runId: 'run-9' });
      expect(result).toEqual(broadcastResultLike({ user_id: 'alice', event_type: 'agent_started', nodes_reached: 1 }));
      expect(Date.parse(result.timestamp)).toBeGreaterThanOrEqual(before);
      await waitUntil('the event on the channel', () => node.messages.length === 1);
      expect(node.messages[0]).toEqual({
        id: result.event_id,
        type: 'agent_started',
        ts: Date.parse(result.timestamp),
        user_id: 'alice',
        run_id: 'run-9',
        data: { model: 'm1' },
      });
    } finally {
      node.stop();
    }
  });

  it('counts every subscribed gateway node in nodes_reached', async () => {
    const nodes = [await listen(prefix, 'bob'), await listen(prefix, 'bob'), await listen(prefix, 'other')];
    try {
      expect((await publisher.publish('bob', 'agent_thinking')).nodes_reached).toBe(2);
      expect((await publisher.publish('nobody', 'agent_thinking')).nodes_reached).toBe(0);
    } finally {
      for (const node of nodes) node.stop();
    }
  });

  it('has one helper per golden-path event, each carrying the run id', async () => {
    const node = await listen(prefix, 'carol');
    try {
      await publisher.agentStarted('carol', 'r1', { a: 1 });
      await publisher.agentThinking('carol', 'r1');
      await publisher.toolExecuting('carol', 'r1', { tool: 'search' });
      await publisher.toolCompleted('carol', 'r1', { ok: true });
      await publisher.agentCompleted('carol', 'r1', { answer: 42 });
      await waitUntil('five events', () => node.messages.length === 5);
      expect(node.messages.map((message) => [message.type, message.run_id, message.data])).toEqual([
        ['agent_started', 'r1', { a: 1 }],
        ['agent_thinking', 'r1', null],
        ['tool_executing', 'r1', { tool: 'search' }],
        ['tool_completed', 'r1', { ok: true }],
        ['agent_completed', 'r1', { answer: 42 }],
      ]);
    } finally {
      node.stop();
    }
  });

  it('rejects bad input with a typed error and sends nothing', async () => {
    const node = await listen(prefix, 'dave');
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    try {
      const attempts: Array<[() => Promise<unknown>, string, string | undefined]> = [
        [() => publisher.publish('', 'agent_started'), 'invalid_user_id', 'user_id'],
        [() => publisher.publish('dave', 'Agent Started'), 'invalid_type', 'type'],
        [() => publisher.publish('dave', 'herald.welcome'), 'invalid_type', 'type'],
        [() => publisher.publish('dave', 'agent_started', { big: 'x'.repeat(70_000) }), 'payload_too_large', 'data'],
        [() => publisher.publish('dave', 'agent_started', circular), 'invalid_data', 'data'],
        [() => publisher.agentStarted('dave', ''), 'invalid_run_id', 'runId'],
        [() => publisher.publish('dave', 'agent_started', null, { idempotencyKey: '' }), 'invalid_idempotency_key', 'idempotencyKey'],
        [() => publisher.publish('dave', 'agent_started', null, { confirm: true, timeoutMs: 0 }), 'invalid_option', 'timeoutMs'],
        [() => publisher.publish('dave\ud800', 'agent_started'), 'invalid_user_id', 'user_id'],
        [() => publisher.agentStarted('dave', 'run\udfff'), 'invalid_run_id', 'runId'],
        [() => publisher.publish('dave', 'agent_started', null, { idempotencyKey: 'k\ud83d' }), 'invalid_idempotency_key', 'idempotencyKey'],
        // What the HTTP API refuses too: a misspelt option would publish without the caller's key.
        [() => publisher.publish('dave', 'agent_started', null, { idempotencykey: 'k' } as PublishOptions), 'unknown_field', 'idempotencykey'],
        [() => publisher.publish('dave', 'agent_started', null, { confirm: 'yes' } as unknown as PublishOptions), 'invalid_option', 'confirm'],
        [() => publisher.agentStarted('dave', undefined as unknown as string), 'missing_field', 'runId'],
        [() => publisher.agentStarted('dave', 'run', null, { runid: 'x' } as PublishOptions), 'unknown_field', 'runid'],
      ];
      for (const [attempt, code, field] of attempts) {
        const error = await attempt().then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(HeraldValidationError);
        expect(error).toMatchObject({ code, field });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(node.messages).toEqual([]);
      const client = redis().client();
      expect(await client.exists(storageLayout(prefix).userHistory('dave'))).toBe(0);
      client.disconnect();
    } finally {
      node.stop();
    }
  });

  it('publishes once per idempotency key; a retry returns the original event marked duplicate', async () => {
    const node = await listen(prefix, 'hana');
    try {
      const first = await publisher.agentCompleted('hana', 'r1', { ok: true }, { idempotencyKey: 'r1-done' });
      const retry = await publisher.agentCompleted('hana', 'r1', { ok: true }, { idempotencyKey: 'r1-done' });
      expect(first.duplicate).toBe(false);
      expect(retry).toMatchObject({ event_id: first.event_id, duplicate: true, nodes_reached: 0, timestamp: first.timestamp });
      await waitUntil('the event', () => node.messages.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(node.messages).toHaveLength(1);
    } finally {
      node.stop();
    }
  });

  it("reports a publish completed by the SDK's own retry as the success it was, stored once", async () => {
    const node = await listen(prefix, 'ivan');
    const client = safeClient();
    let attempts = 0;
    const flaky = withEvalsha(client, async (...args) => {
      attempts += 1;
      const reply = await client.evalsha(...args);
      if (attempts === 1) throw new Error('Connection is closed.');
      return reply;
    });
    const retrying = createPublisher({ redis: flaky, channelPrefix: prefix, retry: { baseDelayMs: 1 } });
    try {
      const result = await retrying.publish('ivan', 'agent_started');
      expect(attempts).toBe(2);
      // The first attempt went through and its answer was lost; the retry found it by the call's key.
      expect(result).toMatchObject({ duplicate: false, nodes_reached: 1 });
      const history = await client.xrange(storageLayout(prefix).userHistory('ivan'), '-', '+');
      expect(history.map(([id]) => id)).toEqual([result.event_id]);
      await waitUntil('the event', () => node.messages.length === 1);
    } finally {
      node.stop();
      await retrying.close();
      client.disconnect();
    }
  });

  it('rejects with the key to retry with when no attempt was answered, and that retry publishes nothing new', async () => {
    const client = safeClient();
    let attempts = 0;
    const silent = withEvalsha(client, async (...args) => {
      attempts += 1;
      await client.evalsha(...args);
      throw new Error('Command timed out');
    });
    const unlucky = createPublisher({ redis: silent, channelPrefix: prefix, retry: { retries: 2, baseDelayMs: 1 } });
    try {
      for (const idempotencyKey of [undefined, 'caller-key-1']) {
        attempts = 0;
        const started = Date.now();
        const error = await unlucky
          .publish('ivo', 'agent_started', null, idempotencyKey === undefined ? {} : { idempotencyKey })
          .catch((reason: unknown) => reason);
        expect(attempts).toBe(3);
        expect(error).toBeInstanceOf(HeraldPublishOutcomeUnknownError);
        const unknown = error as HeraldPublishOutcomeUnknownError;
        expect(unknown.code).toBe('outcome_unknown');
        if (idempotencyKey !== undefined) expect(unknown.idempotencyKey).toBe(idempotencyKey);
        expect(unknown.retryBefore.getTime()).toBeGreaterThan(started);
        expect(unknown.message).toContain(unknown.idempotencyKey);
        const retry = await publisher.publish('ivo', 'agent_started', null, { idempotencyKey: unknown.idempotencyKey });
        expect(retry.duplicate).toBe(true);
      }
      const history = await client.xrange(storageLayout(prefix).userHistory('ivo'), '-', '+');
      expect(history).toHaveLength(2);
    } finally {
      await unlucky.close();
      client.disconnect();
    }
  });

  it('starts a history after the events its stream still holds when the position is gone', async () => {
    const client = redis().client();
    try {
      const layout = storageLayout(prefix);
      // A stream whose newest entry lies ahead of Redis's clock (a history restarted after a
      // client's position), whose position was then lost: XADD refuses any id at or below it.
      const ahead = `${Date.now() + 3_600_000}-2`;
      await client.xadd(layout.userHistory('lia'), ahead, 'b', '"type":"x","ts":1,"user_id":"lia","data":null}');
      const result = await publisher.publish('lia', 'agent_started');
      expect(compareEventIds(result.event_id, ahead)).toBeGreaterThan(0);
      expect(result.event_id.endsWith('-1')).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('keeps a key it generated only as long as its own retries need it', async () => {
    const client = redis().client();
    try {
      const result = await publisher.publish('kit', 'agent_started');
      const keys = await client.keys(`${prefix}:{u:kit}:idem:*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(/:idem:auto:[A-Za-z0-9_-]{16}$/);
      const ttl = await client.ttl(keys[0] as string);
      // Defaults: 4 attempts of up to 2 x 2 s, 3 backoffs of up to 1 s, plus 10 s of grace.
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(29);
      // Only this call knows the key: the record needs no call token.
      expect(await client.get(keys[0] as string)).toBe(`${result.event_id} 0 ${Date.parse(result.timestamp)}`);
    } finally {
      client.disconnect();
    }
  });

  it('does not retry an error that is not transient', async () => {
    const client = safeClient();
    let attempts = 0;
    const broken = withEvalsha(client, async () => {
      attempts += 1;
      const error = new Error('ERR something is wrong');
      error.name = 'ReplyError';
      throw error;
    });
    const publisherOnBroken = createPublisher({ redis: broken, channelPrefix: prefix });
    try {
      await expect(publisherOnBroken.publish('jan', 'agent_started')).rejects.toBeInstanceOf(HeraldPublishError);
      expect(attempts).toBe(1);
    } finally {
      await publisherOnBroken.close();
      client.disconnect();
    }
  });

  it('counts publishes, duplicates, failures and latency in its own registry when asked', async () => {
    const measured = createPublisher({ redisUrl: redis().url, channelPrefix: prefix, metrics: true });
    try {
      await measured.agentStarted('kim', 'r1', null, { idempotencyKey: 'k1' });
      await measured.agentStarted('kim', 'r1', null, { idempotencyKey: 'k1' });
      await measured.publish('', 'agent_started').catch(() => undefined);
      const text = (await measured.metrics?.metrics()) ?? '';
      expect(text).toContain('herald_publisher_published_total{duplicate="false"} 1');
      expect(text).toContain('herald_publisher_published_total{duplicate="true"} 1');
      expect(text).toContain('herald_publisher_failed_total{code="invalid_user_id"} 1');
      expect(text).toContain('herald_publisher_publish_duration_seconds_count 3');
      expect(text).toContain('herald_publisher_retries_total 0');
    } finally {
      await measured.close();
    }
    expect(publisher.metrics).toBeUndefined();
  });

  describe('publishes made together', () => {
    /**
     * Runs `test` with a publisher whose script calls are counted (how many events each call
     * carried), counting from after a first publish that loads the script.
     */
    async function withCountedCalls(
      test: (counted: { batching: Publisher; calls: number[]; client: Redis }) => Promise<void>,
    ): Promise<void> {
      const client = safeClient();
      const calls: number[] = [];
      const counting = withEvalsha(client, (...args) => {
        calls.push(Number(args[1]) / 3);
        return client.evalsha(...args);
      });
      const batching = createPublisher({ redis: counting, channelPrefix: prefix });
      try {
        await batching.publish('warm', 'agent_started');
        calls.length = 0;
        await test({ batching, calls, client });
      } finally {
        await batching.close();
        client.disconnect();
      }
    }

    async function storedData(client: Redis, userId: string): Promise<unknown[]> {
      const history = await client.xrange(storageLayout(prefix).userHistory(userId), '-', '+');
      return history.map(([, fields]) => (JSON.parse(`{${fields[1] ?? ''}`) as { data: unknown }).data);
    }

    it("travel in one script call of at most 64 events, each answered on its own, in each user's call order", async () => {
      await withCountedCalls(async ({ batching, calls, client }) => {
        const users = ['ada', 'bo', 'cy'];
        const results = await Promise.all(
          Array.from({ length: 150 }, (_, n) => batching.agentThinking(users[n % 3] as string, 'r1', { n })),
        );
        expect(calls).toEqual([64, 64, 22]);
        expect(new Set(results.map((result) => `${result.user_id} ${result.event_id}`)).size).toBe(150);
        expect(results.every((result) => !result.duplicate)).toBe(true);
        for (const [index, user] of users.entries()) {
          const expected = Array.from({ length: 50 }, (_, k) => ({ n: 3 * k + index }));
          expect(await storedData(client, user)).toEqual(expected);
        }
      });
    });

    it('leave the other events of a batch published when Redis refuses one of them', async () => {
      await withCountedCalls(async ({ batching, calls, client }) => {
        // A value of the wrong type where the user's position belongs: Redis refuses that event.
        await client.set(storageLayout(prefix).forUser('odd').sequence, 'not a hash');
        const outcomes = await Promise.allSettled([
          batching.publish('eve', 'agent_started', { n: 1 }),
          batching.publish('odd', 'agent_started', { n: 2 }),
          batching.publish('eve', 'agent_thinking', { n: 3 }),
        ]);
        expect(calls).toEqual([3]);
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
        const refusal = (outcomes[1] as PromiseRejectedResult).reason as HeraldPublishError;
        expect(refusal).toBeInstanceOf(HeraldPublishError);
        expect(refusal.message).toMatch(/WRONGTYPE/);
        expect(await storedData(client, 'eve')).toEqual([{ n: 1 }, { n: 3 }]);
        expect(await storedData(client, 'odd')).toEqual([]);
      });
    });

    it('with one idempotency key publish once: the second is the duplicate of the first', async () => {
      await withCountedCalls(async ({ batching, calls, client }) => {
        const [first, second] = await Promise.all([
          batching.publish('fay', 'agent_started', { n: 1 }, { idempotencyKey: 'same' }),
          batching.publish('fay', 'agent_started', { n: 2 }, { idempotencyKey: 'same' }),
        ]);
        expect(calls).toEqual([2]);
        expect(first).toMatchObject({ duplicate: false });
        expect(second).toMatchObject({ duplicate: true, event_id: first?.event_id });
        expect(await storedData(client, 'fay')).toEqual([{ n: 1 }]);
      });
    });
  });

  it('refuses to publish once closed', async () => {
    await publisher.close();
    await expect(publisher.publish('erin', 'agent_started')).rejects.toMatchObject({
      name: 'HeraldPublishError',
      code: 'closed',
    });
  });

  it.each([
    ['', false],
    [', also when Redis has forgotten the script', true],
  ])('answers the publishes handed over before close and refuses the rest as closed, never as outcome unknown%s', async (_label, flushScripts) => {
    const closing = createPublisher({ redisUrl: redis().url, channelPrefix: prefix });
    const client = redis().client();
    try {
      await closing.publish('warm', 'agent_started');
      if (flushScripts) await client.script('FLUSH');
      const user = `cleo-${String(flushScripts)}`;
      const outcomes = Array.from({ length: 100 }, async (_, n) => {
        // Some reach the batcher before close() is called, some after.
        for (let hop = 0; hop < n % 25; hop++) await Promise.resolve();
        return closing.publish(user, 'agent_thinking', { n }).then(
          () => 'published',
          (error: unknown) => (error as HeraldPublishError).code,
        );
      });
      for (let hop = 0; hop < 12; hop++) await Promise.resolve();
      await closing.close();
      const settled = await Promise.all(outcomes);
      expect(settled.filter((outcome) => outcome !== 'published' && outcome !== 'closed')).toEqual([]);
      expect(await client.xlen(storageLayout(prefix).userHistory(user))).toBe(settled.filter((outcome) => outcome === 'published').length);
    } finally {
      client.disconnect();
    }
  });

  it('refuses an ioredis client with a key prefix: its histories would be where no gateway reads them', () => {
    const client = new Redis({ lazyConnect: true, keyPrefix: 'app:' });
    expect(() => createPublisher({ redis: client, channelPrefix: prefix })).toThrow(/keyPrefix "app:"/);
    client.disconnect();
  });

  it('reports Redis failures as HeraldPublishError', async () => {
    // Nothing listens on this port: the command fails at once (no offline queue, no retries).
    const client = new Redis({ port: await freePort(), enableOfflineQueue: false, retryStrategy: () => null });
    client.on('error', () => {});
    const failing = createPublisher({ redis: client, channelPrefix: prefix });
    try {
      const error = await failing.publish('frank', 'agent_started').catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(HeraldPublishError);
      expect(error).toMatchObject({ code: 'redis_error', message: expect.stringContaining('the event was not published') });
    } finally {
      await failing.close();
      client.disconnect();
    }
  });

  it('confirms again once Redis is back after a confirmed publish failed while it was down', async () => {
    const own = await startRedisServer();
    const confirming = createPublisher({ redisUrl: own.url, channelPrefix: prefix, retry: { retries: 0 }, commandTimeoutMs: 300 });
    try {
      await own.stop();
      await expect(confirming.publish('lea', 'agent_started', null, { confirm: true })).rejects.toBeInstanceOf(HeraldPublishError);
      await own.restart();
      await waitUntil('a confirmed publish to succeed', () =>
        confirming.publish('lea', 'agent_started', null, { confirm: true, timeoutMs: 200 }).then(
          (result) => result.errors.length === 0,
          () => false,
        ),
      );
    } finally {
      await confirming.close();
      await own.stop();
    }
  });

  it('leaves a Redis client it was given open on close', async () => {
    const client = redis().client();
    const borrowed = createPublisher({ redis: client, channelPrefix: prefix });
    await borrowed.publish('gina', 'agent_started');
    await borrowed.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it.each([
    [{}, /redisUrl must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ redisUrl: 'http://localhost' }, /redisUrl must be a redis:\/\//],
    [{ redisUrl: 'redis://x', redis: {} as Redis }, /give one of redis, redisUrl and cluster/],
    [{ redisUrl: 'redis://x', cluster: ['127.0.0.1:7000'] }, /give one of redis, redisUrl and cluster/],
    [{ cluster: [] }, /cluster must list at least one node as host:port/],
    [{ cluster: ['127.0.0.1'] }, /cluster must list Redis Cluster nodes as host:port \(got "127.0.0.1"\)/],
    [{ cluster: ['h:70000'] }, /cluster must list Redis Cluster nodes as host:port/],
    [{ cluster: ['redis://h:7000'] }, /cluster must list Redis Cluster nodes as host:port/],
    [{ redisUrl: 'redis://x', maxEventBytes: 0 }, /maxEventBytes must be a positive integer/],
    [{ redisUrl: 'redis://x', history: { maxEvents: 10 } }, /retention is set once, on the gateways \(HISTORY_MAX_EVENTS/],
    [{ redisUrl: 'redis://x', commandTimeoutMs: 0 }, /commandTimeoutMs must be a positive integer/],
    [{ redisUrl: 'redis://x', connectTimeoutMs: 1.5 }, /connectTimeoutMs must be a positive integer/],
    [{ redisUrl: 'redis://x', onError: 'log' as unknown as () => void }, /onError must be a function/],
    [{ redisUrl: 'redis://x', channelPrefix: 'a b' }, /channel prefix must be/],
    [{ redisUrl: 'redis://x', retry: { retries: -1 } }, /retry.retries must be a non-negative integer/],
  ])('refuses the options %p', (options, message) => {
    expect(() => createPublisher(options)).toThrow(message);
  });
});
