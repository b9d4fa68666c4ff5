import type { Redis } from 'ioredis';
import { RedisScript } from './redis-script.js';
import { EVENT_PAYLOAD_ID_PREFIX, HISTORY_BODY_FIELD, LUA_ENSURE_EPOCH, RECEIPT_REQUEST_PREFIX } from '@herald/protocol';

/**
 * Publishes one event, atomically:
 *  - if the idempotency key already produced an event, returns that event's id and does nothing;
 *  - numbers the event in the user's history: id `<epoch>-<n>`, where epoch is when this history
 *    began and n counts its events (so a missing event is visible as a jump in n, and a history
 *    that expired or was lost starts a new epoch);
 *  - appends it to the user's history stream, remembers the idempotency key, publishes the event
 *    and, when receipts are wanted and a node listens, a receipt request right behind it.
 *   KEYS[1] history stream   KEYS[2] sequence hash (epoch, n)   KEYS[3] idempotency key
 *   ARGV[1] events channel   ARGV[2] event body (encodeEventBody)   ARGV[3] max events kept
 *   ARGV[4] history ttl (s)  ARGV[5] idempotency window (s)        ARGV[6] receipt channel or ''
 * Returns { event id, number of subscribed gateway nodes, 1 if duplicate else 0 }.
 */
export const PUBLISH_SCRIPT = `
local previous = redis.call('GET', KEYS[3])
if previous then return {previous, 0, 1} end
local seq = KEYS[2]
${LUA_ENSURE_EPOCH}
local n = redis.call('HINCRBY', seq, 'n', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], epoch .. '-' .. n, '${HISTORY_BODY_FIELD}', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[3], id, 'EX', ARGV[5])
local receivers = redis.call('PUBLISH', ARGV[1], '${EVENT_PAYLOAD_ID_PREFIX}' .. id .. '",' .. ARGV[2])
if ARGV[6] ~= '' and receivers > 0 then
  redis.call('PUBLISH', ARGV[1], '${RECEIPT_REQUEST_PREFIX}' .. ARGV[6] .. '","id":"' .. id .. '"}')
end
return {id, receivers, 0}
`;

const publishScript = new RedisScript(PUBLISH_SCRIPT);

export interface ScriptPublish {
  readonly historyKey: string;
  readonly sequenceKey: string;
  readonly idempotencyKey: string;
  readonly channel: string;
  readonly body: string;
  readonly maxEvents: number;
  readonly ttlSeconds: number;
  readonly idempotencyWindowSeconds: number;
  /** Channel for receipts, or undefined for none. */
  readonly receiptChannel: string | undefined;
}

export interface ScriptPublishReply {
  readonly id: string;
  readonly receivers: number;
  readonly duplicate: boolean;
}

export async function runPublishScript(redis: Redis, input: ScriptPublish): Promise<ScriptPublishReply> {
  const reply = await publishScript.run(
    redis,
    [input.historyKey, input.sequenceKey, input.idempotencyKey],
    [
      input.channel,
      input.body,
      input.maxEvents,
      input.ttlSeconds,
      input.idempotencyWindowSeconds,
      input.receiptChannel ?? '',
    ],
  );
  if (
    !Array.isArray(reply) ||
    typeof reply[0] !== 'string' ||
    typeof reply[1] !== 'number' ||
    typeof reply[2] !== 'number'
  ) {
    throw new Error(`unexpected reply from the publish script: ${JSON.stringify(reply)}`);
  }
  return { id: reply[0], receivers: reply[1], duplicate: reply[2] === 1 };
}
