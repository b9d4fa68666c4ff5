import { readUpgradeCredentials } from '../src/auth/credentials.js';

const none = { authorization: '', secWebSocketProtocol: '', queryToken: '' };

describe('upgrade credentials', () => {
  it('reads a bearer Authorization header', () => {
    expect(readUpgradeCredentials({ ...none, authorization: 'Bearer abc.def.ghi' })).toEqual({
      token: 'abc.def.ghi',
      protocol: '',
    });
    expect(readUpgradeCredentials({ ...none, authorization: 'bearer   abc' }).token).toBe('abc');
  });

  it('reads a bearer.<jwt> subprotocol and echoes exactly that entry', () => {
    expect(readUpgradeCredentials({ ...none, secWebSocketProtocol: 'chat, bearer.abc.def.ghi' })).toEqual({
      token: 'abc.def.ghi',
      protocol: 'bearer.abc.def.ghi',
    });
  });

  it('reads the token query parameter last', () => {
    expect(readUpgradeCredentials({ ...none, queryToken: 'q.q.q' })).toEqual({ token: 'q.q.q', protocol: '' });
  });

  it('prefers the header, then the subprotocol, then the query', () => {
    const all = { authorization: 'Bearer h', secWebSocketProtocol: 'bearer.p', queryToken: 'q' };
    expect(readUpgradeCredentials(all)).toEqual({ token: 'h', protocol: 'bearer.p' });
    expect(readUpgradeCredentials({ ...all, authorization: '' }).token).toBe('p');
  });

  it('ignores non-bearer Authorization schemes', () => {
    expect(readUpgradeCredentials({ ...none, authorization: 'Basic dXNlcjpwYXNz' }).token).toBe('');
  });

  it('returns an empty token when there is none', () => {
    expect(readUpgradeCredentials(none)).toEqual({ token: '', protocol: '' });
  });
});
