import {
  CloseCodes,
  HERALD_CLOSE_CODE_RANGE,
  HERALD_NEW_TOKEN_RANGE,
  HERALD_RECONNECT_RANGE,
  describeCloseCode,
  needsNewToken,
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
      if (entry.code >= HERALD_NEW_TOKEN_RANGE.min && entry.code <= HERALD_NEW_TOKEN_RANGE.max) expect(entry.newToken).toBe(true);
      // A refused token is worth retrying with another one: such a code never forbids reconnecting.
      if (entry.newToken) expect(entry.reconnect).toBe(true);
    }
  });

  it('tells the client when only another token helps', () => {
    expect(needsNewToken(CloseCodes.UNAUTHORIZED.code)).toBe(true);
    expect(needsNewToken(CloseCodes.TOKEN_EXPIRED.code)).toBe(true);
    expect(needsNewToken(4450)).toBe(true);
    expect(needsNewToken(CloseCodes.RESYNC.code)).toBe(false);
    expect(needsNewToken(4399)).toBe(false);
    expect(needsNewToken(1006)).toBe(false);
    expect(needsNewToken(4500)).toBe(false);
    expect(shouldReconnect(CloseCodes.UNAUTHORIZED.code)).toBe(true);
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
