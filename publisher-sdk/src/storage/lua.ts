/**
 * What the scripts share. Each history stream entry's id is the event id and its single field
 * holds the event body (see `encodeEventBody`); `joinEventPayload` turns an entry back into the
 * exact payload that was published.
 */
export const HISTORY_BODY_FIELD = 'b';

/**
 * Sets `start` to the first epoch a new history of the stream named by `stream` may take: Redis
 * time in ms, or later, so that its ids sort after every entry the stream still holds (XADD
 * refuses an id at or below the stream's top).
 */
export const LUA_NEW_EPOCH_START = `
local clock = redis.call('TIME')
local start = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local top = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
if top then start = math.max(start, tonumber(string.match(top[1], '^(%d+)')) + 1) end
`;

/**
 * A user's sequence hash holds the current history's epoch and the number of events numbered in
 * it. This fragment reads the epoch of the hash named by `seq` into `epoch`, starting a new
 * history (see LUA_NEW_EPOCH_START) when there is none; the publish and open scripts share it,
 * so both begin histories the same way.
 */
export const LUA_ENSURE_EPOCH = `
local epoch = redis.call('HGET', seq, 'epoch')
if not epoch then
${LUA_NEW_EPOCH_START}
  epoch = string.format('%.0f', start)
  redis.call('HSET', seq, 'epoch', epoch)
end
`;
