import { DEFAULT_CHANNEL_PREFIX, HeraldValidationError, channelNames, validateChannelPrefix } from '../src/index.js';

describe('channel names', () => {
  const names = channelNames();

  it('puts a user channel and history key under the same {u:<id>} hash tag', () => {
    expect(names.userEvents('alice')).toBe('herald:{u:alice}:events');
    expect(names.userHistory('alice')).toBe('herald:{u:alice}:history');
    expect(DEFAULT_CHANNEL_PREFIX).toBe('herald');
  });

  it('keeps idempotency keys under the user hash tag and names receipt channels', () => {
    expect(names.userIdempotency('alice', 'req-7')).toBe('herald:{u:alice}:idem:req-7');
    expect(names.receipts('p1')).toBe('herald:{r:p1}:receipts');
    expect(() => names.userIdempotency('alice', '')).toThrow(HeraldValidationError);
    expect(() => names.receipts('bad id')).toThrow(/invalid publisher id/);
  });

  it('uses the configured prefix', () => {
    expect(channelNames('staging').userEvents('bob')).toBe('staging:{u:bob}:events');
  });

  it('maps an events channel back to its user, including ids with braces and colons', () => {
    for (const userId of ['alice', 'a}b', 'x}:events', 'auth0|123', 'ü:{}']) {
      expect(names.userFromEventsChannel(names.userEvents(userId))).toBe(userId);
    }
  });

  it('maps nothing else to a user', () => {
    expect(names.userFromEventsChannel('herald:{u:alice}:history')).toBeUndefined();
    expect(names.userFromEventsChannel('other:{u:alice}:events')).toBeUndefined();
    expect(names.userFromEventsChannel('herald:{u:}:events')).toBeUndefined();
  });

  it('gives two different users two different channels', () => {
    const ids = ['a', 'a}', 'a}:events', '{a', 'a:b', 'a b'];
    const channels = new Set(ids.map((id) => names.userEvents(id)));
    expect(channels.size).toBe(ids.length);
  });

  it('validates the user id before it becomes part of a name', () => {
    expect(() => names.userEvents('')).toThrow(HeraldValidationError);
    expect(() => names.userHistory('bad\nid')).toThrow(HeraldValidationError);
    expect(() => names.userEvents('x'.repeat(200))).toThrow(HeraldValidationError);
  });

  it.each(['', 'has space', 'has{brace', 'has}brace', 'x'.repeat(65)])('rejects the prefix %p', (prefix) => {
    expect(() => validateChannelPrefix(prefix)).toThrow(/channel prefix must be/);
    expect(() => channelNames(prefix)).toThrow(/channel prefix must be/);
  });
});
