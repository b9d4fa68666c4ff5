import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AuthSettings } from '../config/schema.js';
import type { VerificationKey } from './verifier.js';

export const DEVELOPMENT_USER_ID = 'dev-user';
const DEVELOPMENT_TOKEN_LIFETIME = '24h';

export interface DevelopmentCredentials {
  readonly verificationKey: VerificationKey;
  /** The publish key in force: the configured one, or one generated for this process. */
  readonly publishKey: string | undefined;
  /** Set when a JWT secret was generated: a token for DEVELOPMENT_USER_ID that it accepts. */
  readonly token: string | undefined;
  readonly generatedPublishKey: boolean;
}

/** A token signed with an HS256 secret, carrying the claims the gateway is configured to require. */
export async function signToken(
  secret: string,
  userId: string,
  claims: Pick<AuthSettings, 'issuer' | 'audience'>,
  lifetime: string = DEVELOPMENT_TOKEN_LIFETIME,
): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt.setAudience([...claims.audience]);
  return jwt.setExpirationTime(lifetime).sign(new TextEncoder().encode(secret));
}

/**
 * Turns a development configuration into working credentials: a random JWT secret (with a
 * token for it) when no key is configured, and a random publish key when none is set.
 * Production configurations pass through unchanged.
 */
export async function resolveCredentials(
  auth: AuthSettings,
  publishKey: string | undefined,
  production: boolean,
): Promise<DevelopmentCredentials> {
  const generatedPublishKey = publishKey === undefined && !production;
  const effectivePublishKey = generatedPublishKey ? randomBytes(24).toString('base64url') : publishKey;
  if (auth.key.kind !== 'development') {
    return { verificationKey: auth.key, publishKey: effectivePublishKey, token: undefined, generatedPublishKey };
  }
  const secret = randomBytes(32).toString('base64url');
  return {
    verificationKey: { kind: 'secret', secret },
    publishKey: effectivePublishKey,
    token: await signToken(secret, DEVELOPMENT_USER_ID, auth),
    generatedPublishKey,
  };
}
