import type { Redis } from 'ioredis';
import { EVENT_PAYLOAD_ID_PREFIX } from '@herald/protocol';
import { HISTORY_BODY_FIELD, LUA_CHECK_RUN, LUA_ENSURE_EPOCH, luaRefreshRetention } from './lua.js';
import { RECEIPT_REQUEST_PREFIX } from './receipt-messages.js';
import { RedisScript } from './redis-script.js';

const KEYS_PER_EVENT = 3;

/**
 * The start of an event's error in a cluster when its node does not serve the event's slot now:
 * nothing of that event ran (Redis's own word for "try again", so the SDK retries it).
 */
export const NOT_SERVED_HERE = 'TRYAGAIN';

const SHARED_ARGS = 4;
const ARGS_PER_EVENT = 7;

/**
 * In a cluster, one call publishes for users of every slot its node serves: a call may declare
 * keys of one slot only, so the keys travel undeclared at the end of ARGV and the script reads them
 * back into KEYS; Redis 7's `allow-cross-slot-keys` lets it use them, and still refuses, command
 * by command, a key of a slot this node does not serve (or one being migrated away).
 */
const CLUSTER_PRELUDE = `#!lua flags=allow-cross-slot-keys
local KEYS = {}
local events = (#ARGV - ${SHARED_ARGS}) / (${ARGS_PER_EVENT} + ${KEYS_PER_EVENT})
for i = 1, events * ${KEYS_PER_EVENT} do KEYS[i] = ARGV[${SHARED_ARGS} + events * ${ARGS_PER_EVENT} + i] end`;

/**
 * Publishes a batch of events (in a cluster: of any slots its node serves), one after the other,
 * each atomically with respect to everything else Redis runs (a script runs alone). For each event:
 *  - if its dedup key already produced an event, answers what it recorded and does nothing;
 *  - numbers the event in the user's history: id `<epoch>-<n>`, where epoch is when this history
 *    began and n counts its events (a missing event shows as a jump in n; a history whose
 *    position was lost, or that began on another server run, ends: a new epoch starts);
 *  - appends it to the history stream (kept at least the history ttl after it, see
 *    luaRefreshRetention), publishes it and, when receipts are wanted and a node listens, a
 *    receipt request right behind it; records the outcome under the dedup key:
 *    `<id> <receivers> <ts>`, followed by ` <call token>` when one is given.
 * One event's error is its own answer (`pcall`): it never makes the others look unpublished.
 *   ARGV[1] max events kept  ARGV[2] history ttl (s)  ARGV[3] position ttl (s)
 *   ARGV[4] server run (see LUA_ENSURE_EPOCH)
 *   per event i (from 0): KEYS[3i+1] history stream  KEYS[3i+2] sequence hash  KEYS[3i+3] dedup key
 *     ARGV[4+7i+1] events channel  +2 event body (encodeEventBody)  +3 event ts (ms)
 *     +4 dedup ttl (s)  +5 call token or ''  +6 receipt channel or ''  +7 receipt reference
 * Answers one triple per event: { event id, subscribed gateway nodes, 0 }; for a known dedup key
 * { record, 0, 1 }; for an event Redis refused { error message, 0, 2 }.
 */
function publishScriptSource(publish: 'PUBLISH' | 'SPUBLISH'): string {
  return `${publish === 'SPUBLISH' ? CLUSTER_PRELUDE : ''}
local maxEvents, ttl, positionTtl, run = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
${LUA_CHECK_RUN}
local function publishOne(k, a)
  local dedup = KEYS[k + 3]
  local previous = redis.call('GET', dedup)
  if previous then return {previous, 0, 1} end
  local stream = KEYS[k + 1]
  local seq = KEYS[k + 2]
  local channel, body = ARGV[a + 1], ARGV[a + 2]
  local createMissing = true
${LUA_ENSURE_EPOCH}
  local n = redis.call('HINCRBY', seq, 'n', 1)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxEvents, epoch .. '-' .. n, '${HISTORY_BODY_FIELD}', body)
${luaRefreshRetention('stream', 'seq', 'ttl', 'positionTtl')}
  local receivers = redis.call('${publish}', channel, '${EVENT_PAYLOAD_ID_PREFIX}' .. id .. '",' .. body)
  if ARGV[a + 6] ~= '' and receivers > 0 then
    redis.call('${publish}', channel, '${RECEIPT_REQUEST_PREFIX}' .. ARGV[a + 6] .. '","ref":"' .. ARGV[a + 7] .. '","id":"' .. id .. '"}')
  end
  local record = id .. ' ' .. receivers .. ' ' .. ARGV[a + 3]
  if ARGV[a + 5] ~= '' then record = record .. ' ' .. ARGV[a + 5] end
  redis.call('SET', dedup, record, 'EX', ARGV[a + 4])
  return {id, receivers, 0}
end
local replies = {}
for i = 0, #KEYS / ${KEYS_PER_EVENT} - 1 do
  local ok, reply = pcall(publishOne, i * ${KEYS_PER_EVENT}, ${SHARED_ARGS} + i * ${ARGS_PER_EVENT})
  if ok then
    replies[i + 1] = reply
  else
    local message = type(reply) == 'table' and tostring(reply.err) or tostring(reply)
    -- A key of a slot this node does not serve now (moved, migrating, cluster down) fails at the
    -- event's first command, before it wrote anything: retryable, once the slot table is read again.
    if string.find(message, 'non local key', 1, true) or string.find(message, 'cluster is down', 1, true) then
      message = '${NOT_SERVED_HERE} ' .. message
    end
    replies[i + 1] = {message, 0, 2}
  end
end
return replies
`;
}

/** The publish script for one Redis (PUBLISH). */
export const PUBLISH_SCRIPT = publishScriptSource('PUBLISH');
/** The publish script for a Redis Cluster (SPUBLISH: the event stays on the shard that owns the user's slot). */
export const SHARDED_PUBLISH_SCRIPT = publishScriptSource('SPUBLISH');

const publishScript = new RedisScript(PUBLISH_SCRIPT);
const shardedPublishScript = new RedisScript(SHARDED_PUBLISH_SCRIPT);

/** What every event of one batch shares: the retention policy and the server run it is sent to. */
export interface PublishBatchSettings {
  readonly maxEvents: number;
  readonly ttlSeconds: number;
  readonly positionTtlSeconds: number;
  /** The run id of the server the batch is sent to (ServerRun). */
  readonly run: string;
}

export interface ScriptEvent {
  readonly historyKey: string;
  readonly sequenceKey: string;
  /** The caller's idempotency key, or this call's own retry key. */
  readonly dedupKey: string;
  readonly channel: string;
  readonly body: string;
  readonly ts: number;
  readonly dedupTtlSeconds: number;
  /**
   * Identifies the publish call across its attempts (base64url), so that its own earlier attempt
   * is told from someone else's publish with the same key; '' for a key only this call knows.
   */
  readonly callToken: string;
  /** Where receipts are wanted (the channel and the reference they quote), or undefined for none. */
  readonly receipts: { readonly channel: string; readonly ref: string } | undefined;
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

/** Redis's error reply to one event of a batch (the others ran). */
export class PublishRefusedError extends Error {
  // Named as ioredis names Redis's error replies: it is one, answered for this event alone.
  override readonly name = 'ReplyError';
}

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

function parseEventReply(reply: unknown): ScriptPublishReply | PublishRefusedError {
  if (
    !Array.isArray(reply) ||
    typeof reply[0] !== 'string' ||
    typeof reply[1] !== 'number' ||
    typeof reply[2] !== 'number'
  ) {
    throw new Error(`unexpected reply from the publish script: ${JSON.stringify(reply)}`);
  }
  switch (reply[2]) {
    case 0:
      return { duplicate: false, id: reply[0], receivers: reply[1] };
    case 1:
      return { duplicate: true, record: parseDedupRecord(reply[0]) };
    default:
      return new PublishRefusedError(reply[0]);
  }
}

/**
 * Runs the publish script for `events` (at least one, all served by the node `redis` leads to,
 * in a cluster) in one call; one answer per event, in order. `sharded`: publish by SPUBLISH
 * (Redis Cluster).
 */
export async function runPublishScript(
  redis: Redis,
  settings: PublishBatchSettings,
  events: readonly ScriptEvent[],
  sharded = false,
): Promise<Array<ScriptPublishReply | PublishRefusedError>> {
  const keys: string[] = [];
  const args: Array<string | number> = [settings.maxEvents, settings.ttlSeconds, settings.positionTtlSeconds, settings.run];
  for (const event of events) {
    keys.push(event.historyKey, event.sequenceKey, event.dedupKey);
    args.push(
      event.channel,
      event.body,
      event.ts,
      event.dedupTtlSeconds,
      event.callToken,
      event.receipts?.channel ?? '',
      event.receipts?.ref ?? '',
    );
  }
  const reply = sharded
    ? await shardedPublishScript.run(redis, [], [...args, ...keys])
    : await publishScript.run(redis, keys, args);
  if (!Array.isArray(reply) || reply.length !== events.length) {
    throw new Error(`unexpected reply from the publish script: ${JSON.stringify(reply)}`);
  }
  return reply.map(parseEventReply);
}
