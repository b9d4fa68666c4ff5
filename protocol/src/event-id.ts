/**
 * Event ids are Redis stream ids, `<milliseconds>-<sequence>`, assigned when the event is
 * appended to its user's history. They are unique per user and increase in publish order.
 */
export interface EventIdParts {
  readonly ms: number;
  readonly seq: number;
}

// 15 digits keep both parts exact in a double (< 2^53).
const EVENT_ID_PATTERN = /^(\d{1,15})-(\d{1,15})$/;

export function parseEventId(id: string): EventIdParts | undefined {
  const match = EVENT_ID_PATTERN.exec(id);
  if (!match) return undefined;
  return { ms: Number(match[1]), seq: Number(match[2]) };
}

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

export function formatEventId(parts: EventIdParts): string {
  return `${parts.ms}-${parts.seq}`;
}
