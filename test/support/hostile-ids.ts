import fc from 'fast-check';
import { isValidUserId, validateIdempotencyKey } from '@herald/protocol';

// Pieces an attacker would reach for: the storage layout's own punctuation and purpose names,
// escapes, glob characters, look-alikes of the prefix and of other ids (U+FFFD for a lone
// surrogate), and any code point at all.
const piece = fc.oneof(
  fc.constantFrom(
    ...['}', '{', ':', '%', '*', '?', '[', ']', ' ', '\ufffd'],
    ...['%7D', '%25', '}:idem:', '}:history', '}:seq', '{u:', ':{u:', 'herald:', 'herald:{u:', 'u:', 'a', 'victim'],
  ),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
);

export interface HostileLength {
  readonly minLength?: number;
  readonly maxLength: number;
}

/** Strings made of `length` hostile pieces. */
export function hostileText(length: HostileLength): fc.Arbitrary<string> {
  return fc.array(piece, length).map((parts) => parts.join(''));
}

/** Hostile strings the protocol accepts as user ids. */
export function hostileUserId(length: HostileLength): fc.Arbitrary<string> {
  return hostileText(length).filter((value) => isValidUserId(value));
}

/** Hostile strings the protocol accepts as idempotency keys. */
export function hostileIdempotencyKey(length: HostileLength): fc.Arbitrary<string> {
  return hostileText(length).filter((value) => {
    try {
      validateIdempotencyKey(value);
      return true;
    } catch {
      return false;
    }
  });
}
