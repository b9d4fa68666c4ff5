import { createHmac } from 'node:crypto';
import { SignJWT, type CryptoKey, type KeyObject } from 'jose';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256!!';
export const TEST_PUBLISH_KEY = 'test-publish-key-0123456789';

export interface TokenOptions {
  readonly sub?: string | undefined;
  /** Seconds from now; negative for an expired token; null for no exp claim. */
  readonly expiresIn?: number | null;
  readonly issuer?: string;
  readonly audience?: string;
  readonly secret?: string;
  /** Sign with this key and algorithm instead of HS256 with `secret`. */
  readonly key?: { readonly key: CryptoKey | KeyObject | Uint8Array; readonly alg: string };
}

export async function signTestToken(options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({}).setIssuedAt();
  const sub = 'sub' in options ? options.sub : 'user-1';
  if (sub !== undefined) jwt.setSubject(sub);
  const expiresIn = options.expiresIn === undefined ? 600 : options.expiresIn;
  if (expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  if (options.key) {
    return jwt.setProtectedHeader({ alg: options.key.alg }).sign(options.key.key);
  }
  return jwt.setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(options.secret ?? TEST_JWT_SECRET));
}

/** An unsecured JWT (`alg: none`), which must always be refused. */
export function unsecuredToken(sub = 'user-1'): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
}

/** An HS256 token over exactly these payload bytes (which need not be UTF-8), signed with the test secret. */
export function signRawPayload(payload: Buffer, secret = TEST_JWT_SECRET): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const body = payload.toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${signature}`;
}
