import {
  encodeControlFrame,
  isControlFrame,
  parseClientFrame,
  parseServerFrame,
  welcomeFrame,
} from '../src/index.js';

describe('control frames', () => {
  it('builds the welcome frame with the protocol version', () => {
    expect(JSON.parse(encodeControlFrame(welcomeFrame({ node: 'n1', user_id: 'u', connection_id: 'c', since: '5-0' })))).toEqual({
      type: 'herald.welcome',
      protocol: 1,
      node: 'n1',
      user_id: 'u',
      connection_id: 'c',
      since: '5-0',
    });
  });

  it('parses herald.ping, ignoring extra members', () => {
    expect(parseClientFrame('{"type":"herald.ping","n":1}')).toEqual({ ok: true, frame: { type: 'herald.ping' } });
  });

  it.each([
    ['not JSON', 'ping', 'invalid_frame'],
    ['a JSON array', '[1]', 'invalid_frame'],
    ['JSON null', 'null', 'invalid_frame'],
    ['no type', '{"kind":"herald.ping"}', 'invalid_frame'],
    ['an unknown type', '{"type":"herald.subscribe"}', 'unknown_type'],
    ['a resume without since', '{"type":"herald.resume"}', 'invalid_since'],
    ['a resume with a malformed since', '{"type":"herald.resume","since":"yesterday"}', 'invalid_since'],
  ])('answers %s with a herald.error (%s)', (_label, text, code) => {
    const result = parseClientFrame(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.type).toBe('herald.error');
      expect(result.error.code).toBe(code);
    }
  });

  it('parses herald.resume with its since', () => {
    expect(parseClientFrame('{"type":"herald.resume","since":"17-2"}')).toEqual({
      ok: true,
      frame: { type: 'herald.resume', since: '17-2' },
    });
  });

  it('does not echo an enormous unknown type back in full', () => {
    const result = parseClientFrame(JSON.stringify({ type: 'x'.repeat(1000) }));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message.length).toBeLessThan(200);
  });

  it('tells control frames from events', () => {
    expect(isControlFrame(parseServerFrame('{"type":"herald.pong"}'))).toBe(true);
    expect(isControlFrame(parseServerFrame('{"id":"1-0","type":"agent_started","ts":1,"user_id":"u","data":null}'))).toBe(
      false,
    );
    expect(() => parseServerFrame('[]')).toThrow(/not a Herald frame/);
  });
});
