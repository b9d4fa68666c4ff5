/**
 * What the scripts share. Each history stream entry's id is the event id and its single field
 * holds the event body (see `encodeEventBody`); `joinEventPayload` turns an entry back into the
 * exact payload that was published.
 */
export const HISTORY_BODY_FIELD = 'b';

/**
 * A user's sequence hash holds the current history's epoch and the number of events numbered in
 * it. This fragment reads the epoch of the hash named by `seq` into `epoch`, starting a new
 * history (epoch = Redis time in ms) when there is none; the publish and open scripts share it,
 * so both begin histories the same way.
 */
export const LUA_ENSURE_EPOCH = `
local epoch = redis.call('HGET', seq, 'epoch')
if not epoch then
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
  redis.call('HSET', seq, 'epoch', epoch)
end
`;
