/**
 * Layout of a user's history stream (`ChannelNames.userHistory`). Each entry's id is the event id
 * and its single field holds the event body (see `encodeEventBody`); `joinEventPayload` turns an
 * entry back into the exact payload that was published.
 */
export const HISTORY_BODY_FIELD = 'b';

/**
 * A user's sequence hash (`ChannelNames.userSequence`) holds the current history's epoch and the
 * number of events numbered in it. This Lua fragment reads the epoch of the hash named by `seq`
 * into `epoch`, starting a new history (epoch = Redis time in ms) when there is none. Shared by
 * the publish script and the gateway, so both begin histories the same way.
 */
export const LUA_ENSURE_EPOCH = `
local epoch = redis.call('HGET', seq, 'epoch')
if not epoch then
  local now = redis.call('TIME')
  epoch = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
  redis.call('HSET', seq, 'epoch', epoch)
end
`;

/** Approximate number of events kept per user (XADD MAXLEN ~). */
export const DEFAULT_HISTORY_MAX_EVENTS = 1000;

/** Seconds a user's history lives after their last event. */
export const DEFAULT_HISTORY_TTL_SECONDS = 600;

/** Seconds an idempotency key is remembered: a retry within it returns the original event. */
export const DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 300;
