/**
 * What the scripts share. Each history stream entry's id is the event id and its single field
 * holds the event body (see `encodeEventBody`); `joinEventPayload` turns an entry back into the
 * exact payload that was published.
 */
export const HISTORY_BODY_FIELD = 'b';

/**
 * Sets `start` to the first epoch a new history of the stream named by `stream` may take: Redis
 * time in ms, or later, so that its ids sort after every entry the stream still holds (XADD
 * refuses an id at or below the stream's top) and after the epoch in `previous` (a string or nil).
 */
export const LUA_NEW_EPOCH_START = `
local clock = redis.call('TIME')
local start = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
if top then start = math.max(start, tonumber(string.match(top[1], '^(%d+)')) + 1) end
if previous then start = math.max(start, tonumber(previous) + 1) end
`;

/** The error a script answers when it runs on another server run than the one it was given. */
export const WRONG_RUN_ERROR = 'HERALDRUN';

/**
 * A server run is the server process (`run_id`) in its current replication history
 * (`master_replid`): a restart changes the first, and a promotion, or a demotion with its full
 * resynchronisation, changes the second, even when the process and its connections stay.
 *
 * This fragment checks, before anything else, that the server running the script is in the run
 * `run` the caller read: if not, the script does nothing and answers WRONG_RUN_ERROR followed by
 * the run it found, so that the caller learns it and decides again (a history must end with the
 * server run it began on, and a retry after an unanswered attempt may only go to that attempt's).
 */
export const LUA_CHECK_RUN = `
local serverInfo = redis.call('INFO', 'server') .. redis.call('INFO', 'replication')
local here = string.match(serverInfo, 'run_id:(%x+)') .. '-' .. string.match(serverInfo, 'master_replid:(%x+)')
if here ~= run then return redis.error_reply('${WRONG_RUN_ERROR} ' .. here) end
`;

/**
 * A user's sequence hash holds the current history's epoch, the number of events numbered in
 * it, and the run id of the Redis server it was numbered on. A server that restarted, or a
 * replica promoted in its place, may have lost the last events a history numbered and would
 * number others the same: a history ends with the server run it began on.
 *
 * This fragment reads into `epoch` the epoch of the hash named by `seq`, starting a new history
 * (see LUA_NEW_EPOCH_START) when there is none or it began on another run than `run`; the
 * publish, open, read and restart scripts share it, so all begin and end histories the same way.
 * With `createMissing` false, a missing history stays missing (`epoch` nil).
 */
export const LUA_ENSURE_EPOCH = `
local held = redis.call('HMGET', seq, 'epoch', 'run')
local epoch = held[1]
if (epoch and held[2] ~= run) or (not epoch and createMissing) then
  local previous = epoch
${LUA_NEW_EPOCH_START}
  epoch = string.format('%.0f', start)
  redis.call('HSET', seq, 'epoch', epoch, 'n', '0', 'run', run)
end
`;

/**
 * Makes `key` (a Lua expression naming a key) live at least `seconds` more, never shortening a
 * longer expiry (EXPIRE GT would leave a key without expiry forever: it treats that as infinite).
 */
export function luaKeepAtLeast(key: string, seconds: string): string {
  return `if redis.call('TTL', ${key}) < tonumber(${seconds}) then redis.call('EXPIRE', ${key}, ${seconds}) end`;
}

/**
 * Keeps a history (`stream`) at least `ttl` seconds after this event and its position (`seq`) at
 * least `positionTtl`. Both are set a tenth longer, so that a user's steady stream of events
 * refreshes them once every tenth of the ttl instead of twice per event.
 */
export function luaRefreshRetention(stream: string, seq: string, ttl: string, positionTtl: string): string {
  return `
local ttlSeconds = tonumber(${ttl})
if redis.call('TTL', ${stream}) <= ttlSeconds then
  local slack = math.max(1, math.ceil(ttlSeconds / 10))
  redis.call('EXPIRE', ${stream}, ttlSeconds + slack)
  if redis.call('TTL', ${seq}) < tonumber(${positionTtl}) + slack then redis.call('EXPIRE', ${seq}, tonumber(${positionTtl}) + slack) end
end
`;
}
