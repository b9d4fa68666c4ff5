import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { encodeEventBody } from '@herald/protocol';
import {
  DEFAULT_RETENTION,
  UndecidableOutcomeError,
  runPublishScript,
  storageLayout,
  type DedupMode,
  type ScriptPublish,
} from '../src/storage/index.js';
import { useRedisServer } from '../../test/support/redis-server.js';

const redis = useRedisServer();
const MAX_EVENTS = 20;
const HORIZON_MS = 29_000;
let users = 0;

/** Runs the publish script as the SDK does, for `user` in `mode`, with the call's `token`. */
function publishAs(client: Redis, user: string, mode: DedupMode, token: string, ts = Date.now()): ReturnType<typeof runPublishScript> {
  const names = storageLayout('script').forUser(user);
  const input: ScriptPublish = {
    historyKey: names.history,
    sequenceKey: names.sequence,
    dedupKey: names.idempotency(`auto:${token}`),
    channel: names.events,
    body: encodeEventBody({ type: 'agent_thinking', ts, user_id: user, data: { token } }),
    ts,
    maxEvents: MAX_EVENTS,
    ttlSeconds: DEFAULT_RETENTION.ttlSeconds,
    positionTtlSeconds: DEFAULT_RETENTION.positionTtlSeconds,
    dedupTtlSeconds: 29,
    callToken: '',
    receipts: undefined,
    run: 'run-1',
    mode,
    storedToken: token,
    horizonMs: HORIZON_MS,
  };
  return runPublishScript(client, input);
}

const token = () => randomBytes(12).toString('base64url');

describe('the publish script without an idempotency key (real Redis)', () => {
  let client: Redis;
  let user: string;
  beforeEach(() => {
    client = redis().client();
    user = `user-${++users}`;
  });
  afterEach(() => client.disconnect());

  const history = () => client.xrange(storageLayout('script').userHistory(user), '-', '+');

  it('finds the event an unanswered attempt published, among the ones after it, and does not publish again', async () => {
    const call = token();
    const first = await publishAs(client, user, 'fresh', call);
    for (let i = 0; i < 5; i++) await publishAs(client, user, 'fresh', token());
    const retry = await publishAs(client, user, 'find', call);
    expect(first.duplicate).toBe(false);
    expect(retry).toMatchObject({ duplicate: true, record: { id: first.duplicate ? '' : first.id } });
    expect(await history()).toHaveLength(6);
  });

  it('publishes on a retry when no attempt ran', async () => {
    const retry = await publishAs(client, user, 'find', token());
    expect(retry.duplicate).toBe(false);
    expect(await history()).toHaveLength(1);
  });

  it('ignores a first attempt that arrives after its retry decided (a late packet on a dropped connection)', async () => {
    const call = token();
    const retry = await publishAs(client, user, 'find', call);
    const late = await publishAs(client, user, 'fresh', call);
    expect(late).toMatchObject({ duplicate: true, record: { id: retry.duplicate ? '' : retry.id } });
    expect(await history()).toHaveLength(1);
  });

  it('knows an absent event was never published when the history kept everything since well before the call', async () => {
    const longAgo = Date.now() - 10 * 60_000;
    for (let i = 0; i < MAX_EVENTS * 3; i++) await publishAs(client, user, 'fresh', token(), longAgo + i);
    expect((await history()).length).toBeLessThan(MAX_EVENTS * 3);
    const retry = await publishAs(client, user, 'find', token());
    expect(retry.duplicate).toBe(false);
  });

  it('says it cannot tell when more events than the history keeps followed the call, and publishes nothing', async () => {
    const call = token();
    await publishAs(client, user, 'fresh', call);
    for (let i = 0; i < MAX_EVENTS * 3; i++) await publishAs(client, user, 'fresh', token());
    const before = await history();
    expect(before.some(([, fields]) => fields.includes(call))).toBe(false);
    await expect(publishAs(client, user, 'find', call)).rejects.toBeInstanceOf(UndecidableOutcomeError);
    await expect(publishAs(client, user, 'find', token())).rejects.toBeInstanceOf(UndecidableOutcomeError);
    expect(await history()).toEqual(before);
  });

  it('writes no key for a first attempt', async () => {
    for (let i = 0; i < 50; i++) await publishAs(client, user, 'fresh', token());
    expect(await client.keys(`script:{u:${user}}:*`)).toHaveLength(2);
  });
});
