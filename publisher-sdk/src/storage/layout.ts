import { validateIdempotencyKey, validateUserId } from '@herald/protocol';

export const DEFAULT_CHANNEL_PREFIX = 'herald';

// No braces: the prefix must never open or close the hash tag that keeps a user's keys in one
// Redis Cluster slot.
const CHANNEL_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ESCAPED = /[%{}]/g;
const NEEDS_ESCAPE = /[%{}]/;

const ESCAPE_SEQUENCE = /%(25|7B|7D)/g;

/** The inverse of encodeUserTag on what it produces (other text may come out changed; check by encoding again). */
function decodeUserTag(tag: string): string {
  return tag.replace(ESCAPE_SEQUENCE, (_all, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Returns the prefix unchanged, or throws an Error naming what is allowed. */
export function validateChannelPrefix(prefix: string): string {
  if (!CHANNEL_PREFIX_PATTERN.test(prefix)) {
    throw new Error(
      `channel prefix must be 1-64 characters from A-Z a-z 0-9 _ . : - (got ${JSON.stringify(prefix)})`,
    );
  }
  return prefix;
}

/**
 * The user id as it appears inside the hash tag: `%`, `{` and `}` percent-encoded, nothing else
 * changed. Injective (the escape character is itself escaped) and never contains `}`, so the tag
 * ends exactly where the id does.
 */
export function encodeUserTag(userId: string): string {
  const valid = validateUserId(userId);
  return NEEDS_ESCAPE.test(valid) ? valid.replace(ESCAPED, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`) : valid;
}

function token(value: string, what: string): string {
  if (!TOKEN_PATTERN.test(value)) throw new Error(`invalid ${what} ${JSON.stringify(value)}`);
  return value;
}

/**
 * Every Redis key and channel Herald uses for one deployment (one prefix). Names of user U are
 * `<prefix>:{u:<encodeUserTag(U)>}:<purpose>[:<key>]`: the prefix has no braces and the encoded
 * id no `}`, so the hash tag is exactly `u:<encoded U>` (one slot per user in Redis Cluster), and
 * the purpose follows a `}` that only the tag's end can produce. Distinct (user, purpose, key)
 * triples therefore never share a name, whatever characters ids contain (well-formed Unicode is
 * required: UTF-8 is injective only on it).
 */
export interface StorageLayout {
  readonly prefix: string;
  /** Pub/sub channel carrying U's events and receipt requests. */
  userEvents(userId: string): string;
  /** The user U whose `userEvents(U)` is `channel`, or undefined when no user's is. */
  userOfEvents(channel: string): string | undefined;
  /** Stream of U's recent events (history for resume). */
  userHistory(userId: string): string;
  /** Hash: U's history epoch and event count. Outlives the history (see retention). */
  userSequence(userId: string): string;
  /** Remembers which event a caller's idempotency key produced. The key is the name's tail, as given. */
  userIdempotency(userId: string, key: string): string;
  /** Remembers which event one SDK call produced, for the SDK's own retries; `callToken` is base64url. */
  userRetry(userId: string, callToken: string): string;
  /** Where gateway nodes answer a publisher's receipt requests. */
  receipts(publisherId: string): string;
  /** Hash: the deployment's retention policy, written by the gateways, read by publishers. */
  readonly retention: string;
  /** All of one user's names at once (the id is checked and encoded once). */
  forUser(userId: string): UserNames;
}

export interface UserNames {
  readonly events: string;
  readonly history: string;
  readonly sequence: string;
  idempotency(key: string): string;
}

export function storageLayout(prefix: string = DEFAULT_CHANNEL_PREFIX): StorageLayout {
  validateChannelPrefix(prefix);
  const user = (userId: string) => `${prefix}:{u:${encodeUserTag(userId)}}`;
  const eventsHead = `${prefix}:{u:`;
  const eventsTail = '}:events';
  const userOfEvents = (channel: string): string | undefined => {
    if (channel.length <= eventsHead.length + eventsTail.length) return undefined;
    if (!channel.startsWith(eventsHead) || !channel.endsWith(eventsTail)) return undefined;
    const tag = channel.slice(eventsHead.length, channel.length - eventsTail.length);
    const userId = tag.includes('%') ? decodeUserTag(tag) : tag;
    try {
      // Only the one spelling encodeUserTag makes names the user (`%7d`, a bare `}`… do not).
      return encodeUserTag(userId) === tag ? userId : undefined;
    } catch {
      return undefined;
    }
  };
  const forUser = (userId: string): UserNames => {
    const head = user(userId);
    return {
      events: `${head}:events`,
      history: `${head}:history`,
      sequence: `${head}:seq`,
      idempotency: (key) => `${head}:idem:${validateIdempotencyKey(key)}`,
    };
  };
  return {
    prefix,
    forUser,
    userEvents: (userId) => forUser(userId).events,
    userOfEvents,
    userHistory: (userId) => forUser(userId).history,
    userSequence: (userId) => forUser(userId).sequence,
    userIdempotency: (userId, key) => forUser(userId).idempotency(key),
    userRetry: (userId, callToken) => `${user(userId)}:retry:${token(callToken, 'call token')}`,
    receipts: (publisherId) => `${prefix}:{r:${token(publisherId, 'publisher id')}}:receipts`,
    retention: `${prefix}:retention`,
  };
}
