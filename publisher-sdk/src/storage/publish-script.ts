import type { Redis } from 'ioredis';
import { EVENT_PAYLOAD_ID_PREFIX } from '@herald/protocol';
import { HISTORY_BODY_FIELD, LUA_ENSURE_EPOCH, luaRefreshRetention } from './lua.js';
import { RECEIPT_REQUEST_PREFIX } from './receipt-messages.js';
import { RedisScript } from './redis-script.js';

/**
 * Publishes one event, atomically:
 *  - if the dedup key already produced an event, returns what it recorded and does nothing;
 *  - numbers the event in the user's history: id `<epoch>-<n>`, where epoch is when this history
 *    began and n counts its events (a missing event shows as a jump in n; a history whose
 *    position was lost, or that began on another server run, ends: a new epoch starts);
 *  - appends it to the history stream (kept at least the history ttl after it, see
 *    luaRefreshRetention), publishes it and, when receipts are wanted and a node
 *    listens, a receipt request right behind it; records the outcome under the dedup key:
 *    `<id> <receivers> <ts>`, followed by ` <call token>` when one is given.
 *   KEYS[1] history stream   KEYS[2] sequence hash (epoch, n, run)   KEYS[3] dedup key
 *   ARGV[1] events channel   ARGV[2] event body (encodeEventBody)   ARGV[3] max events kept
 *   ARGV[4] history ttl (s)  ARGV[5] position ttl (s)   ARGV[6] dedup ttl (s)
 *   ARGV[7] call token or '' ARGV[8] receipt channel or ''   ARGV[9] event ts (ms)
 *   ARGV[10] receipt reference (when ARGV[8] is given)   ARGV[11] server run (see LUA_ENSURE_EPOCH)
 * Returns { event id, subscribed gateway nodes, 0 } or, for a known dedup key, { record, 0, 1 }.
 */
export const PUBLISH_SCRIPT = `
local previous = redis.call('GET', KEYS[3])
if previous then return {previous, 0, 1} end
local seq = KEYS[2]
local stream = KEYS[1]
local run = ARGV[11]
local createMissing = true
${LUA_ENSURE_EPOCH}
local n = redis.call('HINCRBY', seq, 'n', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], epoch .. '-' .. n, '${HISTORY_BODY_FIELD}', ARGV[2])
${luaRefreshRetention('stream', 'seq', 'ARGV[4]', 'ARGV[5]')}
local receivers = redis.call('PUBLISH', ARGV[1], '${EVENT_PAYLOAD_ID_PREFIX}' .. id .. '",' .. ARGV[2])
if ARGV[8] ~= '' and receivers > 0 then
  redis.call('PUBLISH', ARGV[1], '${RECEIPT_REQUEST_PREFIX}' .. ARGV[8] .. '","ref":"' .. ARGV[10] .. '","id":"' .. id .. '"}')
end
local record = id .. ' ' .. receivers .. ' ' .. ARGV[9]
if ARGV[7] ~= '' then record = record .. ' ' .. ARGV[7] end
redis.call('SET', KEYS[3], record, 'EX', ARGV[6])
return {id, receivers, 0}
`;

const publishScript = new RedisScript(PUBLISH_SCRIPT);

export interface ScriptPublish {
  readonly historyKey: string;
  readonly sequenceKey: string;
  /** The caller's idempotency key, or this call's own retry key. */
  readonly dedupKey: string;
  readonly channel: string;
  readonly body: string;
  readonly ts: number;
  readonly maxEvents: number;
  readonly ttlSeconds: number;
  readonly positionTtlSeconds: number;
  readonly dedupTtlSeconds: number;
  /**
   * Identifies the publish call across its attempts (base64url), so that its own earlier attempt
   * is told from someone else's publish with the same key; '' for a key only this call knows.
   */
  readonly callToken: string;
  /** Where receipts are wanted (the channel and the reference they quote), or undefined for none. */
  readonly receipts: { readonly channel: string; readonly ref: string } | undefined;
  /** The run id of the server the script is sent to (ServerRun). */
  readonly run: string;
}

/** What a dedup key recorded about the event it produced. */
export interface DedupRecord {
  readonly id: string;
  /** Gateway nodes the event reached when it was published; 0 when not recorded. */
  readonly receivers: number;
  /** The event's publish time (ms); undefined when not recorded. */
  readonly ts: number | undefined;
  /** The call that published it; '' when not recorded. */
  readonly callToken: string;
}

export type ScriptPublishReply =
  | { readonly duplicate: false; readonly id: string; readonly receivers: number }
  | { readonly duplicate: true; readonly record: DedupRecord };

/** Reads `<id> <receivers> <ts>[ <call token>]`; a bare `<id>` (written before these fields existed) is accepted. */
export function parseDedupRecord(value: string): DedupRecord {
  const [id = '', receivers, ts, callToken] = value.split(' ');
  return {
    id,
    receivers: receivers === undefined ? 0 : Number(receivers),
    ts: ts === undefined ? undefined : Number(ts),
    callToken: callToken ?? '',
  };
}

export async function runPublishScript(redis: Redis, input: ScriptPublish): Promise<ScriptPublishReply> {
  const reply = await publishScript.run(
    redis,
    [input.historyKey, input.sequenceKey, input.dedupKey],
    [
      input.channel,
      input.body,
      input.maxEvents,
      input.ttlSeconds,
      input.positionTtlSeconds,
      input.dedupTtlSeconds,
      input.callToken,
      input.receipts?.channel ?? '',
      input.ts,
      input.receipts?.ref ?? '',
      input.run,
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
  return reply[2] === 1
    ? { duplicate: true, record: parseDedupRecord(reply[0]) }
    : { duplicate: false, id: reply[0], receivers: reply[1] };
}
