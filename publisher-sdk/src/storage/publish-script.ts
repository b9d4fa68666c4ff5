import type { Redis } from 'ioredis';
import { EVENT_PAYLOAD_ID_PREFIX } from '@herald/protocol';
import { CALL_TOKEN_FIELD, HISTORY_BODY_FIELD, LUA_ENSURE_EPOCH, luaRefreshRetention } from './lua.js';
import { RECEIPT_REQUEST_PREFIX } from './receipt-messages.js';
import { RedisScript } from './redis-script.js';

/**
 * How a publish treats its dedup key:
 *  - `keyed`: a caller's idempotency key. A record under it answers any later publish with it.
 *  - `fresh`: the first attempt of a call without a key. The key (named after the call's own
 *    token) is only checked, never written: nobody else knows it, so a record there can only be
 *    a retry of this call that already decided (a late first attempt then does nothing). The
 *    token is stored with the event instead, which costs a few bytes where a record cost a key.
 *  - `find`: a retry of such a call (or a caller giving its token back as `auto:<token>`). The
 *    history is searched for the token: found, the call had published; certainly absent, it
 *    publishes now; when that cannot be told (see LUA_FIND_CALL) the script answers so. The
 *    outcome is recorded under the key, like `keyed`.
 */
export type DedupMode = 'keyed' | 'fresh' | 'find';

/**
 * Search a history (`stream`) for the event a call stored with token `token` and timestamp
 * `callTs` (ms). Sets `found` to its id; otherwise `certainlyAbsent` tells whether the call can
 * not have stored it:
 *  - the stream never lost an entry (entries added = entries held): absent means never stored;
 *  - it lost some (trimmed at HISTORY_MAX_EVENTS): the call's event could only be among them if
 *    that many events followed it; absent means never stored when the oldest one kept was
 *    published (by its own timestamp) more than CLOCK_SKEW_MS before the call;
 *  - no stream: absent unless it may have expired since the call (a ttl shorter than the horizon).
 * Reads the whole history: this runs on retries only.
 */
const CLOCK_SKEW_MS = 60_000;
const LUA_FIND_CALL = `
local found = nil
local certainlyAbsent = false
local info = redis.pcall('XINFO', 'STREAM', stream)
if info.err then
  certainlyAbsent = tonumber(ARGV[4]) * 1000 > tonumber(ARGV[14])
else
  local length, added = 0, 0
  local first = nil
  for i = 1, #info, 2 do
    if info[i] == 'length' then length = info[i + 1]
    elseif info[i] == 'entries-added' then added = info[i + 1]
    elseif info[i] == 'first-entry' then first = info[i + 1] end
  end
  local upper = '+'
  while not found do
    local page = redis.call('XREVRANGE', stream, upper, '-', 'COUNT', 100)
    for i = 1, #page do
      local fields = page[i][2]
      for f = 1, #fields, 2 do
        if fields[f] == '${CALL_TOKEN_FIELD}' and fields[f + 1] == ARGV[13] then found = page[i][1] end
      end
    end
    if #page < 100 then break end
    upper = '(' .. page[#page][1]
  end
  if not found then
    if added == length then
      certainlyAbsent = true
    elseif first then
      local oldestTs = nil
      for f = 1, #first[2], 2 do
        if first[2][f] == '${HISTORY_BODY_FIELD}' then oldestTs = tonumber(string.match(first[2][f + 1], '"ts":(%d+)')) end
      end
      certainlyAbsent = oldestTs ~= nil and oldestTs < tonumber(ARGV[9]) - ${CLOCK_SKEW_MS}
    end
  end
end
`;

/**
 * Publishes one event, atomically:
 *  - if the dedup key already produced an event, returns what it recorded and does nothing;
 *  - in `find` mode, returns the event the call already stored (recording it under the key), or
 *    answers that it cannot be told whether it did;
 *  - numbers the event in the user's history: id `<epoch>-<n>`, where epoch is when this history
 *    began and n counts its events (a missing event shows as a jump in n; a history whose
 *    position was lost, or that began on another server run, ends: a new epoch starts);
 *  - appends it to the history stream (with the call's token, if any; kept at least the history
 *    ttl after it, see luaRefreshRetention), publishes it and, when receipts are wanted and a
 *    node listens, a receipt request right behind it; except in `fresh` mode, records the
 *    outcome under the dedup key: `<id> <receivers> <ts>`, then ` <call token>` when one is given.
 *   KEYS[1] history stream   KEYS[2] sequence hash (epoch, n, run)   KEYS[3] dedup key
 *   ARGV[1] events channel   ARGV[2] event body (encodeEventBody)   ARGV[3] max events kept
 *   ARGV[4] history ttl (s)  ARGV[5] position ttl (s)   ARGV[6] dedup ttl (s)
 *   ARGV[7] call token or '' ARGV[8] receipt channel or ''   ARGV[9] event ts (ms)
 *   ARGV[10] receipt reference (when ARGV[8] is given)   ARGV[11] server run (see LUA_ENSURE_EPOCH)
 *   ARGV[12] dedup mode      ARGV[13] token stored with the event, or ''   ARGV[14] retry horizon (ms)
 * Returns { event id, subscribed gateway nodes, 0 }; for a known dedup key or a call found in
 * the history, { record, 0, 1 }; { '', 0, 2 } when a `find` cannot tell.
 */
export const PUBLISH_SCRIPT = `
local previous = redis.call('GET', KEYS[3])
if previous then return {previous, 0, 1} end
local seq = KEYS[2]
local stream = KEYS[1]
local run = ARGV[11]
local mode = ARGV[12]
if mode == 'find' then
${LUA_FIND_CALL}
  if found then
    local receivers = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2]
    local record = found .. ' ' .. receivers .. ' ' .. ARGV[9]
    if ARGV[7] ~= '' then record = record .. ' ' .. ARGV[7] end
    redis.call('SET', KEYS[3], record, 'EX', ARGV[6])
    return {record, 0, 1}
  end
  if not certainlyAbsent then return {'', 0, 2} end
end
local createMissing = true
${LUA_ENSURE_EPOCH}
local n = redis.call('HINCRBY', seq, 'n', 1)
local id
if ARGV[13] ~= '' then
  id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], epoch .. '-' .. n, '${HISTORY_BODY_FIELD}', ARGV[2], '${CALL_TOKEN_FIELD}', ARGV[13])
else
  id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], epoch .. '-' .. n, '${HISTORY_BODY_FIELD}', ARGV[2])
end
${luaRefreshRetention('stream', 'seq', 'ARGV[4]', 'ARGV[5]')}
local receivers = redis.call('PUBLISH', ARGV[1], '${EVENT_PAYLOAD_ID_PREFIX}' .. id .. '",' .. ARGV[2])
if ARGV[8] ~= '' and receivers > 0 then
  redis.call('PUBLISH', ARGV[1], '${RECEIPT_REQUEST_PREFIX}' .. ARGV[8] .. '","ref":"' .. ARGV[10] .. '","id":"' .. id .. '"}')
end
if mode ~= 'fresh' then
  local record = id .. ' ' .. receivers .. ' ' .. ARGV[9]
  if ARGV[7] ~= '' then record = record .. ' ' .. ARGV[7] end
  redis.call('SET', KEYS[3], record, 'EX', ARGV[6])
end
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
  readonly mode: DedupMode;
  /** The token stored with the event and searched for in `find` mode; '' for a caller's key. */
  readonly storedToken: string;
  /** Longest time from a call's first attempt to its last retry, the caller's included (ms). */
  readonly horizonMs: number;
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

/** A `find` could not tell whether the call's earlier attempt published its event. */
export class UndecidableOutcomeError extends Error {
  override readonly name = 'UndecidableOutcomeError';
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
      input.mode,
      input.storedToken,
      input.horizonMs,
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
  if (reply[2] === 2) {
    throw new UndecidableOutcomeError(
      "the user's history no longer tells whether an earlier attempt published the event: more events than it keeps came after it",
    );
  }
  return reply[2] === 1
    ? { duplicate: true, record: parseDedupRecord(reply[0]) }
    : { duplicate: false, id: reply[0], receivers: reply[1] };
}
