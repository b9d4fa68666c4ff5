import { CloseCodes } from '@herald/protocol';
import { AUTH_FAILURE_REASONS, AuthError } from '../src/auth/verifier.js';
import { RefusedSocket, authCloseOf } from '../src/transport/refused-socket.js';

/** A socket that records the closes asked of it. */
function recordingSocket(): { ends: [number | undefined, unknown][]; end(code?: number, reason?: unknown): void } {
  const socket = {
    ends: [] as [number | undefined, unknown][],
    end(code?: number, reason?: unknown) {
      socket.ends.push([code, reason]);
    },
  };
  return socket;
}

describe('authCloseOf', () => {
  it('closes an expired token with 4001, every other refused token with 4401, each with its reason as a short close reason', () => {
    for (const reason of AUTH_FAILURE_REASONS.filter((candidate) => candidate !== 'key_unavailable')) {
      const close = authCloseOf(new AuthError(reason, 'a message that may say more than the close should'));
      const code = reason === 'expired' ? CloseCodes.TOKEN_EXPIRED.code : CloseCodes.UNAUTHORIZED.code;
      expect(close).toEqual({ code, reason });
      expect(Buffer.byteLength(close?.reason ?? '')).toBeLessThanOrEqual(123);
    }
  });

  it('leaves key_unavailable to an HTTP 503: the token may be good', () => {
    expect(authCloseOf(new AuthError('key_unavailable', 'no keys'))).toBeUndefined();
  });
});

describe('RefusedSocket', () => {
  const close = { code: CloseCodes.UNAUTHORIZED.code, reason: 'invalid_signature' };

  it('waits for the upgrade to return before closing a socket opened inside it', () => {
    const refused = new RefusedSocket(close);
    const socket = recordingSocket();
    refused.opened(socket);
    expect(socket.ends).toEqual([]);
    refused.upgraded();
    expect(socket.ends).toEqual([[close.code, close.reason]]);
  });

  it('closes at once a socket opened after the upgrade returned', () => {
    const refused = new RefusedSocket(close);
    const socket = recordingSocket();
    refused.upgraded();
    refused.opened(socket);
    expect(socket.ends).toEqual([[close.code, close.reason]]);
  });

  it('never touches a socket that closed before the upgrade returned', () => {
    const refused = new RefusedSocket(close);
    const socket = recordingSocket();
    refused.opened(socket);
    refused.closed();
    refused.upgraded();
    expect(socket.ends).toEqual([]);
  });
});
