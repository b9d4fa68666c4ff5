import type { Redis } from 'ioredis';
import { joinEventPayload, parseEventId, type EventIdParts } from '@herald/protocol';
import { LUA_ENSURE_EPOCH } from './lua.js';
import { RedisScript } from './redis-script.js';

/**
 * Opens a user's history: starts one when there is none, keeps its position for another
 * position ttl, and returns that position (`<epoch>-<n>`).
 *   KEYS[1] sequence hash   ARGV[1] position ttl (s)
 */
const OPEN_HISTORY_SCRIPT = `
local seq = KEYS[1]
${LUA_ENSURE_EPOCH}
redis.call('EXPIRE', seq, ARGV[1])
return epoch .. '-' .. (redis.call('HGET', seq, 'n') or '0')
`;

/**
 * Reads a user's history in one round trip: its epoch and event count, its oldest event, and the
 * entries after an id.
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
return {1, epoch, count, oldest, entries}
`;

const openScript = new RedisScript(OPEN_HISTORY_SCRIPT);
const readScript = new RedisScript(READ_HISTORY_SCRIPT);

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
}

type Entry = [string, string[]];

export async function openHistory(redis: Redis, sequenceKey: string, positionTtlSeconds: number): Promise<string> {
  const position = await openScript.run(redis, [sequenceKey], [positionTtlSeconds]);
  if (typeof position !== 'string') throw new Error(`unexpected reply opening a history: ${JSON.stringify(position)}`);
  return position;
}

export async function readHistory(
  redis: Redis,
  keys: { readonly history: string; readonly sequence: string },
  after: string,
  limit: number,
): Promise<StoredHistory> {
  const reply = await readScript.run(redis, [keys.history, keys.sequence], [after, limit]);
  if (!Array.isArray(reply) || reply[0] === 0) return { extent: undefined, events: [] };
  const [, epoch, count, oldest, entries] = reply as [number, string, string, string | null, Entry[]];
  return {
    extent: {
      epoch: Number(epoch),
      count: Number(count),
      oldest: typeof oldest === 'string' ? parseEventId(oldest) : undefined,
    },
    events: entries.map(([id, fields]) => ({ id, payload: Buffer.from(joinEventPayload(id, fields[1] ?? 'null}')) })),
  };
}
