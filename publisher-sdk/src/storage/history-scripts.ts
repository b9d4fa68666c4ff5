import type { Redis } from 'ioredis';
import { EVENT_PAYLOAD_ID_PREFIX, parseEventId, type EventIdParts } from '@herald/protocol';
import { LUA_CHECK_RUN, LUA_ENSURE_EPOCH, LUA_NEW_EPOCH_START, luaKeepAtLeast } from './lua.js';
import { RedisScript, isUnknownScript } from './redis-script.js';
import { isWrongRun } from './server-run.js';

/**
 * Opens a user's history: starts one when there is none (or it began on another server run),
 * keeps its position for at least another position ttl, and returns that position (`<epoch>-<n>`).
 *   KEYS[1] sequence hash   KEYS[2] history stream   ARGV[1] position ttl (s)   ARGV[2] server run
 */
const OPEN_HISTORY_SCRIPT = `
local seq = KEYS[1]
local stream = KEYS[2]
local run = ARGV[2]
${LUA_CHECK_RUN}
local createMissing = true
${LUA_ENSURE_EPOCH}
${luaKeepAtLeast('seq', 'ARGV[1]')}
return epoch .. '-' .. (redis.call('HGET', seq, 'n') or '0')
`;

/**
 * Reads a user's history in one round trip: its epoch and event count, its oldest event, and the
 * entries after an id, as many as fit in the count and the bytes given (at least one). A history
 * that began on another server run ends first (a new one starts). The entries are read in small
 * ranges sized by what came so far, so a page of large events never loads more than it returns.
 *   KEYS[1] history stream   KEYS[2] sequence hash   ARGV[1] after   ARGV[2] max entries
 *   ARGV[3] server run   ARGV[4] max bytes of event bodies
 * The last element is 1 when the page stopped at the byte limit (more may follow), else 0.
 */
const READ_HISTORY_SCRIPT = `
local stream = KEYS[1]
local seq = KEYS[2]
local run = ARGV[3]
${LUA_CHECK_RUN}
local createMissing = false
${LUA_ENSURE_EPOCH}
if not epoch then return {0} end
local count = redis.call('HGET', seq, 'n') or '0'
local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
local oldest = false
if first then oldest = first[1] end
local limit = tonumber(ARGV[2])
local maxBytes = tonumber(ARGV[4])
local entries = {}
local bytes = 0
local truncated = 0
local from = '(' .. ARGV[1]
local step = math.min(limit, 8)
while step > 0 do
  local batch = redis.call('XRANGE', stream, from, '+', 'COUNT', step)
  for i = 1, #batch do
    local size = #batch[i][2][2]
    if #entries > 0 and bytes + size > maxBytes then
      truncated = 1
      break
    end
    entries[#entries + 1] = batch[i]
    bytes = bytes + size
  end
  if truncated == 1 or #batch < step then break end
  from = '(' .. batch[#batch][1]
  local left = limit - #entries
  if bytes > 0 then left = math.min(left, math.max(1, math.floor((maxBytes - bytes) * #entries / bytes))) end
  step = left
end
return {1, epoch, count, oldest, entries, truncated}
`;

/**
 * Starts a new history whose ids all come after `id` when `id` lies beyond anything the user's
 * history has numbered: a client resumes from an id no history of this server run numbered,
 * which must not be handed out again for another event.
 *   KEYS[1] sequence hash   KEYS[2] history stream   ARGV[1] id's epoch   ARGV[2] id's n
 *   ARGV[3] position ttl (s)   ARGV[4] how far (ms) an epoch may lie ahead of Redis's clock and
 *   still be believed   ARGV[5] server run
 * Returns {0} when the id's epoch is implausibly far ahead (nothing changed), {1, position}
 * when the id is not beyond the history, {2, position} after starting one.
 */
const RESTART_HISTORY_SCRIPT = `
local seq = KEYS[1]
local stream = KEYS[2]
local run = ARGV[5]
${LUA_CHECK_RUN}
local now = redis.call('TIME')
local idEpoch = tonumber(ARGV[1])
if idEpoch > tonumber(now[1]) * 1000 + tonumber(ARGV[4]) then return {0} end
local createMissing = true
${LUA_ENSURE_EPOCH}
local n = tonumber(redis.call('HGET', seq, 'n') or '0')
if idEpoch < tonumber(epoch) or (idEpoch == tonumber(epoch) and tonumber(ARGV[2]) <= n) then
  return {1, epoch .. '-' .. string.format('%.0f', n)}
end
local previous = string.format('%.0f', idEpoch)
${LUA_NEW_EPOCH_START}
epoch = string.format('%.0f', start)
redis.call('HSET', seq, 'epoch', epoch, 'n', '0', 'run', run)
${luaKeepAtLeast('seq', 'ARGV[3]')}
return {2, epoch .. '-0'}
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
  /** Present when the entries stopped at the byte limit: more may follow. */
  readonly truncated?: true;
}

type Entry = [Buffer, Buffer[]];

/** The keys of one user's history: its stream and its sequence hash. */
export interface HistoryKeys {
  readonly history: string;
  readonly sequence: string;
}

/** How much one read returns: at most `events` events, and no more than `bytes` of bodies (but at least one). */
export interface PageBounds {
  readonly events: number;
  readonly bytes: number;
}

/** `joinEventPayload` on the body's bytes: the same bytes, without decoding and encoding the body. */
function joinEventPayloadBytes(id: string, body: Buffer): Buffer {
  const head = `${EVENT_PAYLOAD_ID_PREFIX}${id}",`; // ASCII: an event id is digits and a dash
  const payload = Buffer.allocUnsafe(head.length + body.length);
  payload.write(head, 0, 'latin1');
  body.copy(payload, head.length);
  return payload;
}

export async function openHistory(
  redis: Redis,
  keys: HistoryKeys,
  positionTtlSeconds: number,
  run: string,
): Promise<string> {
  const position = await openScript.run(redis, [keys.sequence, keys.history], [positionTtlSeconds, run]);
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
  keys: HistoryKeys,
  id: EventIdParts,
  positionTtlSeconds: number,
  run: string,
): Promise<HistoryRestart> {
  const reply = await restartScript.run(
    redis,
    [keys.sequence, keys.history],
    [id.ms, id.seq, positionTtlSeconds, MAX_EPOCH_LEAD_MS, run],
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

/** The keys of one user's history, with the id to read after. */
export interface HistoryRead {
  readonly keys: HistoryKeys;
  readonly after: string;
}

function readArguments(read: HistoryRead, page: PageBounds, run: string) {
  return { keys: [read.keys.history, read.keys.sequence], args: [read.after, page.events, run, page.bytes] };
}

function parseStoredHistory(reply: unknown): StoredHistory {
  if (!Array.isArray(reply) || reply[0] === 0) return { extent: undefined, events: [] };
  const [, epoch, count, oldest, entries, truncated] = reply as [number, Buffer, Buffer, Buffer | null, Entry[], number];
  return {
    ...(truncated === 1 ? { truncated: true as const } : {}),
    extent: {
      epoch: Number(epoch.toString()),
      count: Number(count.toString()),
      oldest: Buffer.isBuffer(oldest) ? parseEventId(oldest.toString()) : undefined,
    },
    events: entries.map(([rawId, fields]) => {
      const id = rawId.toString();
      return { id, payload: joinEventPayloadBytes(id, fields[1] ?? Buffer.from('null}')) };
    }),
  };
}

export async function readHistory(
  redis: Redis,
  read: HistoryRead,
  page: PageBounds,
  run: string,
): Promise<StoredHistory> {
  const { keys, args } = readArguments(read, page, run);
  // Bytes, not strings: a page of large events goes to sockets without being decoded and encoded again.
  return parseStoredHistory(await readScript.runBuffer(redis, keys, args));
}

/**
 * Reads the first page of many users' histories in one round trip (a pipeline). A read that
 * failed (for one, Redis did not know the script yet) is undefined: read it alone. Rejects when
 * the server's run is not `run` (see LUA_CHECK_RUN).
 */
export async function readHistories(
  redis: Redis,
  reads: readonly HistoryRead[],
  page: PageBounds,
  run: string,
): Promise<(StoredHistory | undefined)[]> {
  const pending = reads.map((_, i) => i);
  const stored: (StoredHistory | undefined)[] = reads.map(() => undefined);
  // A Redis that restarted knows no script: load it once, then read again what it refused.
  for (let attempt = 0; attempt < 2 && pending.length > 0; attempt++) {
    if (attempt > 0) await readScript.load(redis);
    const pipeline = redis.pipeline();
    for (const i of pending) {
      const { keys, args } = readArguments(reads[i] as HistoryRead, page, run);
      pipeline.callBuffer('EVALSHA', readScript.sha, keys.length, ...keys, ...args);
    }
    const results = (await pipeline.exec()) ?? [];
    const unknownScript: number[] = [];
    pending.forEach((read, j) => {
      const [error, reply] = results[j] ?? [new Error('no reply')];
      if (!error) stored[read] = parseStoredHistory(reply);
      else if (isUnknownScript(error)) unknownScript.push(read);
      else if (isWrongRun(error)) throw error; // every read was refused: the caller reads the run again
    });
    pending.splice(0, pending.length, ...unknownScript);
  }
  return stored;
}
