import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { joinEventPayload } from '@herald/protocol';
import type { HistoryPage } from './broker.js';

/**
 * Reads a user's history in one round trip: its oldest and newest event ids and the entries
 * after an id.
 *   KEYS[1] history stream   ARGV[1] after ('' for none)   ARGV[2] max entries
 */
const READ_HISTORY_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if not first or not last then return {0} end
local entries = {}
if ARGV[1] ~= '' then entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]) end
return {1, last[1], first[1], entries}
`;

const READ_HISTORY_SHA = createHash('sha1').update(READ_HISTORY_SCRIPT).digest('hex');

type Entry = [string, string[]];

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
    return { exists: false, latest: undefined, oldest: undefined, events: [] };
  }
  const [, latest, oldest, entries] = reply as [number, string, string, Entry[]];
  return {
    exists: true,
    latest,
    oldest,
    events: entries.map(([id, fields]) => ({ id, payload: Buffer.from(joinEventPayload(id, fields[1] ?? 'null}')) })),
  };
}
