import {
  compareEventIdParts,
  compareEventIds,
  eventIdPartsOfPayload,
  formatEventId,
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
