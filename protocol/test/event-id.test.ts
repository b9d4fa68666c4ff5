import {
  compareEventIdParts,
  compareEventIds,
  eventIdPartsOfPayload,
  formatEventId,
  historyCoversSince,
  isAfterHistory,
  isEventId,
  parseEventId,
  parseEventIdBytes,
} from '../src/index.js';

describe('event ids', () => {
  it('parses and formats Redis stream ids', () => {
    expect(parseEventId('1700000000000-3')).toEqual({ ms: 1700000000000, seq: 3 });
    expect(formatEventId({ ms: 5, seq: 0 })).toBe('5-0');
    expect(isEventId('0-1')).toBe(true);
  });

  it.each(['', '12', '1-', '-1', '1-2-3', 'a-1', '1.5-0', '1234567890123456-0'])('rejects %p', (id) => {
    expect(parseEventId(id)).toBeUndefined();
    expect(isEventId(id)).toBe(false);
  });

  it('orders by milliseconds, then sequence, numerically', () => {
    const ids = ['10-0', '9-5', '10-10', '10-2', '100-0'];
    expect([...ids].sort(compareEventIds)).toEqual(['9-5', '10-0', '10-2', '10-10', '100-0']);
    expect(compareEventIds('7-7', '7-7')).toBe(0);
  });

  it('refuses to compare something that is not an id', () => {
    expect(() => compareEventIds('1-0', 'nope')).toThrow(/not an event id: "nope"/);
  });
});

describe('event ids in payload bytes', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  it('reads the id of an event payload without decoding it', () => {
    expect(eventIdPartsOfPayload(bytes('{"id":"1700000000123-42","type":"x"}'))).toEqual({ ms: 1700000000123, seq: 42 });
    expect(parseEventIdBytes(bytes('xx12-3"'), 2)).toEqual({ ms: 12, seq: 3 });
  });

  it.each(['{"receipt":"c","id":"1-0"}', '{"id":"1-"}', '{"id":"-1"}', '{"id":"1-2', '{"id":"a-1"}', '{"id":"1234567890123456-0"}', ''])(
    'returns undefined for %p',
    (text) => {
      expect(eventIdPartsOfPayload(bytes(text))).toBeUndefined();
    },
  );

  it('orders parts like ids', () => {
    expect(compareEventIdParts({ ms: 1, seq: 9 }, { ms: 2, seq: 0 })).toBeLessThan(0);
    expect(compareEventIdParts({ ms: 2, seq: 1 }, { ms: 2, seq: 0 })).toBeGreaterThan(0);
  });
});

describe('history coverage', () => {
  const id = (text: string) => parseEventId(text) as NonNullable<ReturnType<typeof parseEventId>>;
  const history = (epoch: number, count: number, oldest?: string) => ({ epoch, count, oldest: oldest ? id(oldest) : undefined });

  it('covers a since whose successor is still held, in the same history', () => {
    expect(historyCoversSince(id('100-5'), history(100, 9, '100-6'))).toBe(true);
    expect(historyCoversSince(id('100-7'), history(100, 9, '100-6'))).toBe(true);
  });

  it('covers the start of a history that has no events yet, or none after since', () => {
    expect(historyCoversSince(id('100-0'), history(100, 0))).toBe(true);
    expect(historyCoversSince(id('100-9'), history(100, 9, '100-6'))).toBe(true);
    expect(historyCoversSince(id('100-0'), history(100, 3, '100-1'))).toBe(true);
  });

  it('does not cover a since whose successors were trimmed', () => {
    expect(historyCoversSince(id('100-4'), history(100, 9, '100-6'))).toBe(false);
  });

  it('does not cover a since from an earlier history (expired or lost), or when there is none', () => {
    expect(historyCoversSince(id('90-50'), history(100, 9, '100-1'))).toBe(false);
    expect(historyCoversSince(id('90-0'), history(100, 0))).toBe(false);
    expect(historyCoversSince(id('90-50'), undefined)).toBe(false);
  });

  it('covers a since of the current history while an older one is still being trimmed away', () => {
    expect(historyCoversSince(id('100-2'), history(100, 9, '90-40'))).toBe(true);
  });

  it('tells a since beyond what the history numbered', () => {
    expect(isAfterHistory(id('100-10'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('110-0'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('100-9'), history(100, 9))).toBe(false);
    expect(isAfterHistory(id('90-99'), history(100, 9))).toBe(false);
  });
});
