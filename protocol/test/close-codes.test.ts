import {
  CloseCodes,
  HERALD_CLOSE_CODE_RANGE,
  HERALD_RECONNECT_RANGE,
  describeCloseCode,
  shouldReconnect,
} from '../src/index.js';

describe('close codes', () => {
  it('has unique codes and names, all standard or in the Herald range', () => {
    const entries = Object.values(CloseCodes);
    expect(new Set(entries.map((entry) => entry.code)).size).toBe(entries.length);
    expect(new Set(entries.map((entry) => entry.name)).size).toBe(entries.length);
    for (const entry of entries) {
      const standard = entry.code >= 1000 && entry.code <= 1015;
      const herald = entry.code >= HERALD_CLOSE_CODE_RANGE.min && entry.code <= HERALD_CLOSE_CODE_RANGE.max;
      expect(standard || herald).toBe(true);
      if (herald) expect(entry.reconnect).toBe(entry.code <= HERALD_RECONNECT_RANGE.max);
    }
  });

  it('tells the client whether to reconnect', () => {
    expect(shouldReconnect(CloseCodes.GOING_AWAY.code)).toBe(true);
    expect(shouldReconnect(CloseCodes.NORMAL.code)).toBe(false);
    expect(shouldReconnect(CloseCodes.UNSUPPORTED_DATA.code)).toBe(false);
    expect(shouldReconnect(1006)).toBe(true);
    expect(shouldReconnect(4100)).toBe(true);
    expect(shouldReconnect(4600)).toBe(false);
  });

  it('describes known codes', () => {
    expect(describeCloseCode(1009)?.name).toBe('message_too_big');
    expect(describeCloseCode(4999)).toBeUndefined();
  });
});
