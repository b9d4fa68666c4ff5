import { randomFillSync } from 'node:crypto';

const TOKEN_BYTES = 12;
// One call to the system's generator serves many tokens (as randomUUID's own cache does).
const POOL_BYTES = TOKEN_BYTES * 256;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** 12 random bytes as 16 base64url characters. */
export function randomToken(): string {
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const token = pool.toString('base64url', offset, offset + TOKEN_BYTES);
  offset += TOKEN_BYTES;
  return token;
}
