import { validateIdempotencyKey, validateUserId } from './identifiers.js';

export const DEFAULT_CHANNEL_PREFIX = 'herald';

// No braces: the prefix must never open or close the `{u:<id>}` hash tag that keeps a user's
// channel and keys in one Redis Cluster slot.
const CHANNEL_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

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
 * Redis names for one deployment (one prefix). Every name for user U carries the hash tag
 * `{u:U}`, so U's channel and keys share a Redis Cluster slot.
 */
export interface ChannelNames {
  readonly prefix: string;
  /** Pub/sub channel carrying U's events: `<prefix>:{u:<U>}:events`. */
  userEvents(userId: string): string;
  /** Stream holding U's recent events (history for resume): `<prefix>:{u:<U>}:history`. */
  userHistory(userId: string): string;
  /** U's stream incarnation and event counter (hash: epoch, n): `<prefix>:{u:<U>}:seq`. */
  userSequence(userId: string): string;
  /** Remembers which event an idempotency key produced: `<prefix>:{u:<U>}:idem:<key>`. */
  userIdempotency(userId: string, key: string): string;
  /** Where gateway nodes answer a publisher's receipt requests: `<prefix>:{r:<publisherId>}:receipts`. */
  receipts(publisherId: string): string;
  /** The user id of a channel made by `userEvents`, or undefined for any other string. */
  userFromEventsChannel(channel: string): string | undefined;
}

export function channelNames(prefix: string = DEFAULT_CHANNEL_PREFIX): ChannelNames {
  validateChannelPrefix(prefix);
  const head = `${prefix}:{u:`;
  const eventsTail = '}:events';
  const historyTail = '}:history';
  return {
    prefix,
    userEvents: (userId) => head + validateUserId(userId) + eventsTail,
    userHistory: (userId) => head + validateUserId(userId) + historyTail,
    userSequence: (userId) => `${head}${validateUserId(userId)}}:seq`,
    userIdempotency: (userId, key) => `${head}${validateUserId(userId)}}:idem:${validateIdempotencyKey(key)}`,
    receipts: (publisherId) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(publisherId)) throw new Error(`invalid publisher id ${JSON.stringify(publisherId)}`);
      return `${prefix}:{r:${publisherId}}:receipts`;
    },
    userFromEventsChannel(channel) {
      if (
        channel.length <= head.length + eventsTail.length ||
        !channel.startsWith(head) ||
        !channel.endsWith(eventsTail)
      ) {
        return undefined;
      }
      return channel.slice(head.length, channel.length - eventsTail.length);
    },
  };
}
