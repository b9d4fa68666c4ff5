import {
  HeraldValidationError,
  MAX_USER_ID_BYTES,
  isValidUserId,
  validateIdempotencyKey,
  validateRunId,
  validateUserId,
} from '../src/index.js';

describe('user ids', () => {
  it('accepts printable ids up to 128 UTF-8 bytes, unicode included', () => {
    expect(validateUserId('user-42')).toBe('user-42');
    expect(validateUserId('auth0|5f1c2b')).toBe('auth0|5f1c2b');
    expect(validateUserId('a'.repeat(MAX_USER_ID_BYTES))).toHaveLength(MAX_USER_ID_BYTES);
    expect(validateUserId('é'.repeat(64))).toBe('é'.repeat(64));
    expect(validateUserId('\u{1F600}'.repeat(32))).toBe('\u{1F600}'.repeat(32));
    expect(validateUserId('victim\ufffd')).toBe('victim\ufffd');
  });

  it.each([
    ['an empty string', ''],
    ['129 bytes', 'a'.repeat(129)],
    ['65 two-byte characters (130 bytes)', 'é'.repeat(65)],
    ['a newline', 'user\n1'],
    ['a NUL byte', 'user\u00001'],
    ['DEL', 'user\u007f'],
    ['a C1 control', 'user\u0085'],
    ['a lone high surrogate', 'victim\ud800'],
    ['a lone low surrogate', '\udc00victim'],
    ['surrogates in the wrong order', 'x\udc00\ud800'],
  ])('rejects %s', (_label, value) => {
    expect(() => validateUserId(value)).toThrow(HeraldValidationError);
    expect(isValidUserId(value)).toBe(false);
  });

  it.each([[42], [null], [undefined], [{}]])('rejects the non-string %p', (value) => {
    expect(() => validateUserId(value)).toThrow(expect.objectContaining({ code: 'invalid_user_id', field: 'user_id' }));
  });

  it('says why a lone surrogate is refused, for every kind of id', () => {
    expect(() => validateUserId('a\ud800')).toThrow(expect.objectContaining({ message: expect.stringContaining('well-formed Unicode') }));
    expect(() => validateRunId('a\ud800')).toThrow(expect.objectContaining({ code: 'invalid_run_id' }));
    expect(() => validateIdempotencyKey('a\ud800')).toThrow(expect.objectContaining({ code: 'invalid_idempotency_key' }));
  });

  it('names the run id field in its own errors', () => {
    expect(() => validateRunId('', 'runId')).toThrow(expect.objectContaining({ code: 'invalid_run_id', field: 'runId' }));
  });
});
