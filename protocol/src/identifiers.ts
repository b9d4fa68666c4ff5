import { HeraldValidationError, type ValidationCode } from './errors.js';
import { utf8ByteLength } from './utf8.js';

/** The longest user id, in UTF-8 bytes. */
export const MAX_USER_ID_BYTES = 128;
/** The longest run id, in UTF-8 bytes. */
export const MAX_RUN_ID_BYTES = 128;
/** The longest idempotency key, in UTF-8 bytes. */
export const MAX_IDEMPOTENCY_KEY_BYTES = 128;

// C0 controls, DEL and C1 controls: never allowed in ids that become Redis keys, channels or log fields.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
// In a `u` regex a paired surrogate is one code point; only a lone one is in category Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Whether `value` is well-formed Unicode (no lone surrogate). A lone surrogate becomes U+FFFD
 * in UTF-8, so two different ids would name the same Redis key: every id must be well-formed.
 */
export function isWellFormedText(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

function checkIdentifier(value: unknown, field: string, code: ValidationCode, maxBytes: number): string {
  if (typeof value !== 'string') {
    throw new HeraldValidationError(code, `${field} must be a string`, field);
  }
  if (value.length === 0) {
    throw new HeraldValidationError(code, `${field} must not be empty`, field);
  }
  if (!isWellFormedText(value)) {
    throw new HeraldValidationError(code, `${field} must be well-formed Unicode (it contains a lone surrogate)`, field);
  }
  if (utf8ByteLength(value) > maxBytes) {
    throw new HeraldValidationError(code, `${field} must be at most ${maxBytes} bytes in UTF-8`, field);
  }
  if (CONTROL_CHARACTERS.test(value)) {
    throw new HeraldValidationError(code, `${field} must not contain control characters`, field);
  }
  return value;
}

/** Returns the user id unchanged, or throws HeraldValidationError(`invalid_user_id`). */
export function validateUserId(value: unknown, field = 'user_id'): string {
  return checkIdentifier(value, field, 'invalid_user_id', MAX_USER_ID_BYTES);
}

/** Returns the run id unchanged, or throws HeraldValidationError(`invalid_run_id`). */
export function validateRunId(value: unknown, field = 'run_id'): string {
  return checkIdentifier(value, field, 'invalid_run_id', MAX_RUN_ID_BYTES);
}

/** Returns the idempotency key unchanged, or throws HeraldValidationError(`invalid_idempotency_key`). */
export function validateIdempotencyKey(value: unknown, field = 'idempotency_key'): string {
  return checkIdentifier(value, field, 'invalid_idempotency_key', MAX_IDEMPOTENCY_KEY_BYTES);
}

/** True when `value` is acceptable as a user id. */
export function isValidUserId(value: unknown): value is string {
  try {
    validateUserId(value);
    return true;
  } catch {
    return false;
  }
}
