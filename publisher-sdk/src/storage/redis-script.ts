import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** Redis's answer to EVALSHA for a script it does not know (it restarted, or SCRIPT FLUSH ran). */
export function isUnknownScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

type Args = readonly (string | number)[];

/** A Lua script run by its SHA (EVALSHA), sent in full (EVAL) only when Redis does not know it yet. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  run(redis: Redis, keys: readonly string[], args: Args): Promise<unknown> {
    return this.bySha(
      () => redis.evalsha(this.sha, keys.length, ...keys, ...args),
      () => redis.eval(this.source, keys.length, ...keys, ...args),
    );
  }

  /** As `run`, with every string in the reply left as bytes (no decoding). */
  runBuffer(redis: Redis, keys: readonly string[], args: Args): Promise<unknown> {
    return this.bySha(
      () => redis.callBuffer('EVALSHA', this.sha, keys.length, ...keys, ...args),
      () => redis.callBuffer('EVAL', this.source, keys.length, ...keys, ...args),
    );
  }

  /** Makes Redis know the script (SCRIPT LOAD), for pipelines of EVALSHA. */
  async load(redis: Redis): Promise<void> {
    await redis.script('LOAD', this.source);
  }

  /** Runs the script by its SHA, and in full when Redis does not know it. */
  private async bySha(bySha: () => Promise<unknown>, inFull: () => Promise<unknown>): Promise<unknown> {
    try {
      return await bySha();
    } catch (error) {
      if (!isUnknownScript(error)) throw error;
      return inFull();
    }
  }
}
