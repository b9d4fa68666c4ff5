/**
 * Event ids are Redis stream ids, `<epoch>-<n>`, assigned when the event is appended to its
 * user's history: `epoch` is when the user's current history began (milliseconds since the Unix
 * epoch) and `n` counts the user's events in it, 1, 2, 3… They are unique per user and increase
 * in publish order; two consecutive events of a history differ by one in `n`, which is what lets
 * a gap be detected exactly.
 */
export interface EventIdParts {
  readonly ms: number;
  readonly seq: number;
}

// 15 digits keep both parts exact in a double (< 2^53).
const EVENT_ID_PATTERN = /^(\d{1,15})-(\d{1,15})$/;

/** The two numbers of an event id (`<epoch>-<n>`), or undefined for anything else. */
export function parseEventId(id: string): EventIdParts | undefined {
  const match = EVENT_ID_PATTERN.exec(id);
  if (!match) return undefined;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

/** Whether `value` is an event id (`<epoch>-<n>`, each at most 15 digits). */
export function isEventId(value: unknown): value is string {
  return typeof value === 'string' && EVENT_ID_PATTERN.test(value);
}

/** Negative when `a` was published before `b`, 0 when equal, positive after. Both must be valid ids. */
export function compareEventIds(a: string, b: string): number {
  const left = parseEventId(a);
  const right = parseEventId(b);
  if (!left || !right) {
    throw new Error(`not an event id: ${JSON.stringify(left ? b : a)}`);
  }
  return left.ms - right.ms || left.seq - right.seq;
}

/** The event id of these two numbers. */
export function formatEventId(parts: EventIdParts): string {
  return `${parts.ms}-${parts.seq}`;
}

const QUOTE = 0x22;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Reads `<ms>-<seq>"` from `bytes` at `start` (an id closed by a quote), or undefined. */
export function parseEventIdBytes(bytes: Uint8Array, start: number): EventIdParts | undefined {
  const payload = bytes;
  let ms = 0;
  let seq = 0;
  let i = start;
  let digits = 0;
  for (; i < payload.length; i++) {
    const byte = payload[i] as number;
    if (byte === DASH) break;
    if (byte < ZERO || byte > NINE || ++digits > 15) return undefined;
    ms = ms * 10 + (byte - ZERO);
  }
  if (digits === 0 || payload[i] !== DASH) return undefined;
  digits = 0;
  for (i += 1; i < payload.length; i++) {
    const byte = payload[i] as number;
    if (byte === QUOTE) break;
    if (byte < ZERO || byte > NINE || ++digits > 15) return undefined;
    seq = seq * 10 + (byte - ZERO);
  }
  if (digits === 0 || payload[i] !== QUOTE) return undefined;
  return { ms, seq };
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function compareEventIdParts(a: EventIdParts, b: EventIdParts): number {
  return a.ms - b.ms || a.seq - b.seq;
}
