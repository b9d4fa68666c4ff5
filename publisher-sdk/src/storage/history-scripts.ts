import type { Redis } from 'ioredis';
import { eventTimestampOfPayload, joinEventPayload, parseEventId, type EventIdParts } from '@herald/protocol';
import { LUA_ENSURE_EPOCH, LUA_NEW_EPOCH_START } from './lua.js';
import { RedisScript } from './redis-script.js';

/**
 * Opens a user's history: starts one when there is none, keeps its position for another
 * position ttl, and returns that position (`<epoch>-<n>`).
 *   KEYS[1] sequence hash   KEYS[2] history stream   ARGV[1] position ttl (s)
 */
const OPEN_HISTORY_SCRIPT = `
local seq = KEYS[1]
local stream = KEYS[2]
${LUA_ENSURE_EPOCH}
redis.call('EXPIRE', seq, ARGV[1])
return epoch .. '-' .. (redis.call('HGET', seq, 'n') or '0')
`;

/**
 * Reads a user's history in one round trip: its epoch and event count, its oldest event, the
 * body of the entry at an id (if still held) and the entries after it.
 *   KEYS[1] history stream   KEYS[2] sequence hash   ARGV[1] after   ARGV[2] max entries
 */
const READ_HISTORY_SCRIPT = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then return {0} end
local count = redis.call('HGET', KEYS[2], 'n') or '0'
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local oldest = false
if first then oldest = first[1] end
local entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
local at = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])[1]
local atBody = false
if at then atBody = at[2][2] end
return {1, epoch, count, oldest, entries, atBody}
`;

/**
 * Starts a new history whose ids all come after `id` when Redis lost events it had acknowledged
 * (a restart from an older snapshot, a replica promoted before it had them) and would otherwise
 * hand their ids out again: when `id` lies beyond anything the history has numbered, or (with
 * ARGV[5] = '1') when the history is still `id`'s epoch although the event at `id` was replaced.
 *   KEYS[1] sequence hash   KEYS[2] history stream   ARGV[1] id's epoch   ARGV[2] id's n
 *   ARGV[3] position ttl (s)   ARGV[4] how far (ms) an epoch may lie ahead of Redis's clock and
 *   still be believed   ARGV[5] '1': the event at id was replaced
 * Returns {0} when the id's epoch is implausibly far ahead (nothing changed), {1, position}
 * when there is nothing to restart (nothing changed), {2, position} after starting one.
 */
const RESTART_HISTORY_SCRIPT = `
local seq = KEYS[1]
local stream = KEYS[2]
${LUA_NEW_EPOCH_START}
local idEpoch = tonumber(ARGV[1])
local clockMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
if idEpoch > clockMs + tonumber(ARGV[4]) then return {0} end
local epoch = tonumber(redis.call('HGET', seq, 'epoch') or '-1')
local n = tonumber(redis.call('HGET', seq, 'n') or '0')
local beyond = idEpoch > epoch or (idEpoch == epoch and tonumber(ARGV[2]) > n)
local replaced = ARGV[5] == '1' and idEpoch == epoch
if not beyond and not replaced then
  return {1, string.format('%.0f', epoch) .. '-' .. string.format('%.0f', n)}
end
local started = math.max(start, idEpoch + 1)
redis.call('HSET', seq, 'epoch', string.format('%.0f', started), 'n', '0')
redis.call('EXPIRE', seq, ARGV[3])
return {2, string.format('%.0f', started) .. '-0'}
`;

/** How far ahead of Redis's clock a history's epoch is believed (clocks of a failover pair may disagree). */
export const MAX_EPOCH_LEAD_MS = 24 * 60 * 60 * 1000;

const openScript = new RedisScript(OPEN_HISTORY_SCRIPT);
const readScript = new RedisScript(READ_HISTORY_SCRIPT);
const restartScript = new RedisScript(RESTART_HISTORY_SCRIPT);

/** Where a user's history stands: when it began, how many events it numbered, the oldest it holds. */
export interface StoredExtent {
  readonly epoch: number;
  readonly count: number;
  readonly oldest: EventIdParts | undefined;
}

export interface StoredHistory {
  /** Undefined when the user has no position (never published to, expired, or lost with Redis). */
  readonly extent: StoredExtent | undefined;
  /** Entries after the requested id, oldest first, as the exact payloads that were published. */
  readonly events: readonly { readonly id: string; readonly payload: Buffer }[];
  /** The time (`ts`) of the event at the requested id, when the history still holds it. */
  readonly afterTs?: number | undefined;
}

type Entry = [string, string[]];

export async function openHistory(
  redis: Redis,
  keys: { readonly history: string; readonly sequence: string },
  positionTtlSeconds: number,
): Promise<string> {
  const position = await openScript.run(redis, [keys.sequence, keys.history], [positionTtlSeconds]);
  if (typeof position !== 'string') throw new Error(`unexpected reply opening a history: ${JSON.stringify(position)}`);
  return position;
}

/** What `restartHistoryAfter` did. */
export type HistoryRestart =
  /** The id's epoch lies implausibly far ahead: nothing changed. */
  | { readonly kind: 'implausible' }
  /** The id is not beyond the history (any more): nothing changed. */
  | { readonly kind: 'behind'; readonly position: string }
  /** A new history began after the id. */
  | { readonly kind: 'restarted'; readonly position: string };

export async function restartHistoryAfter(
  redis: Redis,
  keys: { readonly history: string; readonly sequence: string },
  id: EventIdParts,
  positionTtlSeconds: number,
  replaced = false,
): Promise<HistoryRestart> {
  const reply = await restartScript.run(
    redis,
    [keys.sequence, keys.history],
    [id.ms, id.seq, positionTtlSeconds, MAX_EPOCH_LEAD_MS, replaced ? '1' : '0'],
  );
  if (!Array.isArray(reply)) throw new Error(`unexpected reply restarting a history: ${JSON.stringify(reply)}`);
  const [code, position] = reply as [number, string | undefined];
  if (code === 0) return { kind: 'implausible' };
  if (typeof position !== 'string' || !parseEventId(position)) {
    throw new Error(`unexpected reply restarting a history: ${JSON.stringify(reply)}`);
  }
  return code === 2 ? { kind: 'restarted', position } : { kind: 'behind', position };
}

/** Keeps the positions of these users (those that still have one) for another position ttl. */
export async function keepPositions(redis: Redis, sequenceKeys: readonly string[], positionTtlSeconds: number): Promise<void> {
  if (sequenceKeys.length === 0) return;
  const pipeline = redis.pipeline();
  for (const key of sequenceKeys) pipeline.expire(key, positionTtlSeconds);
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([error]) => error);
  if (failed?.[0]) throw failed[0];
}

export async function readHistory(
  redis: Redis,
  keys: { readonly history: string; readonly sequence: string },
  after: string,
  limit: number,
): Promise<StoredHistory> {
  const reply = await readScript.run(redis, [keys.history, keys.sequence], [after, limit]);
  if (!Array.isArray(reply) || reply[0] === 0) return { extent: undefined, events: [] };
  const [, epoch, count, oldest, entries, atBody] = reply as [number, string, string, string | null, Entry[], string | null];
  return {
    extent: {
      epoch: Number(epoch),
      count: Number(count),
      oldest: typeof oldest === 'string' ? parseEventId(oldest) : undefined,
    },
    events: entries.map(([id, fields]) => ({ id, payload: Buffer.from(joinEventPayload(id, fields[1] ?? 'null}')) })),
    afterTs: typeof atBody === 'string' ? eventTimestampOfPayload(Buffer.from(joinEventPayload(after, atBody))) : undefined,
  };
}
