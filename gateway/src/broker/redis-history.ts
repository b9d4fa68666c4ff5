import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { joinEventPayload } from '@herald/protocol';
import type { HistoryPage } from './broker.js';

/**
 * Reads a user's history in one round trip: what the stream vouches for (newest id ever
 * appended, up to which id entries may be missing, oldest held) and the entries after an id.
 *   KEYS[1] history stream   ARGV[1] after ('' for none)   ARGV[2] max entries
 */
const READ_HISTORY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local latest, incomplete, oldest = false, false, false
for i = 1, #info, 2 do
  local field = info[i]
  if field == 'last-generated-id' then latest = info[i + 1]
  elseif field == 'max-deleted-entry-id' then incomplete = info[i + 1]
  elseif field == 'first-entry' and info[i + 1] then oldest = info[i + 1][1] end
end
local entries = {}
if ARGV[1] ~= '' then entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]) end
return {1, latest, incomplete, oldest, entries}
`;

const READ_HISTORY_SHA = createHash('sha1').update(READ_HISTORY_SCRIPT).digest('hex');

type Entry = [string, string[]];

function text(value: unknown): string | undefined {
  // A stream never deleted anything reports 0-0.
  return typeof value === 'string' && value !== '0-0' ? value : undefined;
}

export async function readHistory(
  redis: Redis,
  historyKey: string,
  after: string | undefined,
  limit: number,
): Promise<HistoryPage> {
  const args = [historyKey, after ?? '', limit] as const;
  let reply: unknown;
  try {
    reply = await redis.evalsha(READ_HISTORY_SHA, 1, ...args);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
    reply = await redis.eval(READ_HISTORY_SCRIPT, 1, ...args);
  }
  if (!Array.isArray(reply) || reply[0] === 0) {
    return { exists: false, latest: undefined, incompleteUpTo: undefined, oldest: undefined, events: [] };
  }
  const [, latest, incomplete, oldest, entries] = reply as [number, unknown, unknown, unknown, Entry[]];
  return {
    exists: true,
    latest: text(latest),
    incompleteUpTo: text(incomplete),
    oldest: text(oldest),
    events: entries.map(([id, fields]) => ({ id, payload: Buffer.from(joinEventPayload(id, fields[1] ?? 'null}')) })),
  };
}
