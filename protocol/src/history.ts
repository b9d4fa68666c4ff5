/**
 * Layout of a user's history stream (`ChannelNames.userHistory`). Each entry's id is the event id
 * and its single field holds the event body (see `encodeEventBody`); `joinEventPayload` turns an
 * entry back into the exact payload that was published.
 */
export const HISTORY_BODY_FIELD = 'b';

/** Approximate number of events kept per user (XADD MAXLEN ~). */
export const DEFAULT_HISTORY_MAX_EVENTS = 1000;

/** Seconds a user's history lives after their last event. */
export const DEFAULT_HISTORY_TTL_SECONDS = 600;

/** Seconds an idempotency key is remembered: a retry within it returns the original event. */
export const DEFAULT_IDEMPOTENCY_WINDOW_SECONDS = 300;
