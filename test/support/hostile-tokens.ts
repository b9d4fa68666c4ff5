import fc from 'fast-check';

const base64url = (json: object) => Buffer.from(JSON.stringify(json)).toString('base64url');

// What an attacker would put in a token: JWT punctuation and real-looking segments (alg none, a
// victim's sub), lone surrogates, control characters, and any code point at all.
const jwtLike = fc.constantFrom(
  ...['.', '..', '-', '_', '=', '+', '/', ',', ' ', '\t', '%', '%00', 'Bearer ', 'bearer.', 'eyJ', '\ufffd', '\u2028'],
  base64url({ alg: 'none' }),
  base64url({ alg: 'HS256', typ: 'JWT' }),
  base64url({ sub: 'victim', exp: 9_999_999_999 }),
);
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit));
const controlCharacter = fc.oneof(fc.integer({ min: 0, max: 0x1f }), fc.constant(0x7f)).map((code) => String.fromCharCode(code));
const anyCodePoints = fc.string({ unit: 'binary', maxLength: 8 });

function tokenOf(pieces: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const short = fc.array(pieces, { maxLength: 24 }).map((parts) => parts.join(''));
  const repeatedTo = ([text, length]: [string, number]) => (text || 'A').repeat(Math.ceil(length / Math.max(1, text.length))).slice(0, length);
  return fc.oneof(
    { weight: 8, arbitrary: short },
    // Past the verifier's 8 KB limit; uWS answers such a request when it arrives in one piece.
    { weight: 2, arbitrary: fc.tuple(short, fc.integer({ min: 4_000, max: 60_000 })).map(repeatedTo) },
    { weight: 1, arbitrary: fc.tuple(short, fc.integer({ min: 1_000_000, max: 2_000_000 })).map(repeatedTo) },
  );
}

/** Hostile token strings, megabytes long at times, with lone surrogates and control characters. */
export const hostileToken: fc.Arbitrary<string> = tokenOf(fc.oneof(jwtLike, loneSurrogate, controlCharacter, anyCodePoints));

/**
 * The same without the control characters an HTTP header value cannot hold (RFC 9110: all but
 * tab, DEL included): uWS may leave a request that carries one unanswered (see
 * auth-close.test.ts), so the token never reaches the gateway's code that way.
 */
export const hostileHeaderToken: fc.Arbitrary<string> = hostileToken.map((token) => token.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ''));
