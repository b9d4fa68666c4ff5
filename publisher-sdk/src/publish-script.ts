import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { EVENT_PAYLOAD_ID_PREFIX, HISTORY_BODY_FIELD } from '@herald/protocol';

/**
 * Appends an event to its user's history and publishes it, atomically, so history order and
 * delivery order are the same for any number of concurrent publishers.
 *   KEYS[1] history stream   ARGV[1] events channel   ARGV[2] event body (encodeEventBody)
 *   ARGV[3] max events kept  ARGV[4] history ttl (s)
 * Returns { event id, number of subscribed gateway nodes }.
 */
export const PUBLISH_SCRIPT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', '${HISTORY_BODY_FIELD}', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local receivers = redis.call('PUBLISH', ARGV[1], '${EVENT_PAYLOAD_ID_PREFIX}' .. id .. '",' .. ARGV[2])
return {id, receivers}
`;

const PUBLISH_SCRIPT_SHA = createHash('sha1').update(PUBLISH_SCRIPT).digest('hex');

export interface ScriptPublish {
  readonly historyKey: string;
  readonly channel: string;
  readonly body: string;
  readonly maxEvents: number;
  readonly ttlSeconds: number;
}

export interface ScriptPublishReply {
  readonly id: string;
  readonly receivers: number;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

export async function runPublishScript(redis: Redis, input: ScriptPublish): Promise<ScriptPublishReply> {
  const args = [input.historyKey, input.channel, input.body, input.maxEvents, input.ttlSeconds] as const;
  let reply: unknown;
  try {
    reply = await redis.evalsha(PUBLISH_SCRIPT_SHA, 1, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    reply = await redis.eval(PUBLISH_SCRIPT, 1, ...args);
  }
  if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'number') {
    throw new Error(`unexpected reply from the publish script: ${JSON.stringify(reply)}`);
  }
  return { id: reply[0], receivers: reply[1] };
}
