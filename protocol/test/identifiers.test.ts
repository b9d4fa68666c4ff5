import { HeraldValidationError, MAX_USER_ID_BYTES, isValidUserId, validateRunId, validateUserId } from '../src/index.js';

describe('user ids', () => {
  it('accepts printable ids up to 128 UTF-8 bytes, unicode included', () => {
    expect(validateUserId('user-42')).toBe('user-42');
    expect(validateUserId('auth0|5f1c2b')).toBe('auth0|5f1c2b');
    expect(validateUserId('a'.repeat(MAX_USER_ID_BYTES))).toHaveLength(MAX_USER_ID_BYTES);
    expect(validateUserId('é'.repeat(64))).toBe('é'.repeat(64));
  });

  it.each([
    ['an empty string', ''],
    ['129 bytes', 'a'.repeat(129)],
    ['65 two-byte characters (130 bytes)', 'é'.repeat(65)],
    ['a newline', 'user\n1'],
    ['a NUL byte', 'user\u00001'],
    ['DEL', 'user\u007f'],
    ['a C1 control', 'user\u0085'],
  ])('rejects %s', (_label, value) => {
    expect(() => validateUserId(value)).toThrow(HeraldValidationError);
    expect(isValidUserId(value)).toBe(false);
  });

  it.each([[42], [null], [undefined], [{}]])('rejects the non-string %p', (value) => {
    expect(() => validateUserId(value)).toThrow(expect.objectContaining({ code: 'invalid_user_id', field: 'user_id' }));
  });

  it('names the run id field in its own errors', () => {
    expect(() => validateRunId('', 'runId')).toThrow(expect.objectContaining({ code: 'invalid_run_id', field: 'runId' }));
  });
});
