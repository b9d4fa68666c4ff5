import { webcrypto } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { isValidUserId } from '@herald/protocol';
import type { AuthSettings } from '../config/schema.js';
import { JWKS_ALGORITHMS } from './keys.js';

export const AUTH_FAILURE_REASONS = [
  'missing_token',
  'malformed_token',
  'invalid_signature',
  'algorithm_not_allowed',
  'expired',
  'not_yet_valid',
  'missing_exp',
  'wrong_issuer',
  'wrong_audience',
  'missing_sub',
  'invalid_sub',
  'key_unavailable',
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** Why a token was refused, with the HTTP status the upgrade is answered with. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly reason: AuthFailureReason;
  readonly status: 401 | 403 | 503;

  constructor(reason: AuthFailureReason, message: string) {
    super(message);
    this.reason = reason;
    this.status = reason === 'missing_sub' || reason === 'invalid_sub' ? 403 : reason === 'key_unavailable' ? 503 : 401;
  }
}

export interface VerifiedIdentity {
  readonly userId: string;
  /** Token expiry, milliseconds since the epoch. */
  readonly expiresAt: number;
}

export interface TokenVerifier {
  /** Resolves the identity in a valid token; rejects with AuthError otherwise. */
  verify(token: string): Promise<VerifiedIdentity>;
}

/** A resolved key: what `development` mode turned into a real secret. */
export type VerificationKey =
  | { readonly kind: 'secret'; readonly secret: string }
  | Exclude<AuthSettings['key'], { kind: 'secret' } | { kind: 'development' }>;

export const MAX_TOKEN_LENGTH = 8192;

function claimFailure(error: InstanceType<typeof joseErrors.JWTClaimValidationFailed>): AuthError {
  if (error.claim === 'exp' && error.reason === 'missing') return new AuthError('missing_exp', 'token has no exp claim');
  if (error.claim === 'nbf') return new AuthError('not_yet_valid', 'token is not valid yet (nbf)');
  if (error.claim === 'iss') return new AuthError('wrong_issuer', 'token issuer is not accepted');
  if (error.claim === 'aud') return new AuthError('wrong_audience', 'token audience is not accepted');
  return new AuthError('malformed_token', `token claim ${error.claim} is invalid`);
}

function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof joseErrors.JWTExpired) return new AuthError('expired', 'token has expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) return claimFailure(error);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AuthError('algorithm_not_allowed', 'token algorithm is not accepted');
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return new AuthError('invalid_signature', 'token signature is not valid');
  }
  if (error instanceof joseErrors.JOSEError) return new AuthError('malformed_token', 'token is malformed');
  return new AuthError('malformed_token', 'token could not be verified');
}

/**
 * The key set could not be fetched: a network failure (not a JOSEError), a timeout, an invalid
 * document, or a non-200 answer (which jose reports as a generic JOSEError).
 */
function isKeySetUnavailable(error: unknown): boolean {
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return (
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof joseErrors.JWKSInvalid ||
    error.code === joseErrors.JOSEError.code
  );
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes that are not UTF-8 would decode to U+FFFD and give a token for one user the id of
 * another. jose 6 refuses such payloads too; this keeps the rule whatever jose's decoder does.
 */
function assertUtf8Payload(token: string): void {
  const payload = token.split('.')[1] ?? '';
  try {
    STRICT_UTF8.decode(Buffer.from(payload, 'base64url'));
  } catch {
    throw new AuthError('malformed_token', 'token payload is not valid UTF-8');
  }
}

function identityOf(payload: JWTPayload): VerifiedIdentity {
  if (payload.sub === undefined || payload.sub === '') throw new AuthError('missing_sub', 'token has no sub claim');
  if (!isValidUserId(payload.sub)) {
    throw new AuthError(
      'invalid_sub',
      'token sub is not a valid user id (1-128 bytes of well-formed UTF-8, no lone surrogates, no control characters)',
    );
  }
  if (typeof payload.exp !== 'number') throw new AuthError('missing_exp', 'token has no exp claim');
  return { userId: payload.sub, expiresAt: payload.exp * 1000 };
}

export function createTokenVerifier(
  key: VerificationKey,
  claims: Pick<AuthSettings, 'issuer' | 'audience'>,
): TokenVerifier {
  const baseOptions = {
    requiredClaims: ['exp'],
    ...(claims.issuer === undefined ? {} : { issuer: claims.issuer }),
    ...(claims.audience === undefined ? {} : { audience: [...claims.audience] }),
  };
  let verifyWithKey: (token: string) => Promise<JWTPayload>;
  switch (key.kind) {
    case 'secret': {
      // Imported once: given the raw secret, jose would import it again for every token.
      const secret = webcrypto.subtle.importKey('raw', new TextEncoder().encode(key.secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
        'verify',
      ]);
      const options = { ...baseOptions, algorithms: ['HS256'] };
      verifyWithKey = async (token) => (await jwtVerify(token, await secret, options)).payload;
      break;
    }
    case 'public-key': {
      const options = { ...baseOptions, algorithms: [...key.publicKey.algorithms] };
      verifyWithKey = async (token) => (await jwtVerify(token, key.publicKey.key, options)).payload;
      break;
    }
    case 'jwks': {
      const jwks: JWTVerifyGetKey = createRemoteJWKSet(key.url);
      const options = { ...baseOptions, algorithms: [...JWKS_ALGORITHMS] };
      verifyWithKey = async (token) => {
        try {
          return (await jwtVerify(token, jwks, options)).payload;
        } catch (error) {
          if (isKeySetUnavailable(error)) {
            throw new AuthError('key_unavailable', 'signing keys could not be fetched; retry later');
          }
          throw error;
        }
      };
      break;
    }
  }
  return {
    async verify(token) {
      if (token.length === 0) throw new AuthError('missing_token', 'no token was given');
      if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('malformed_token', 'token is too long');
      try {
        const payload = await verifyWithKey(token);
        assertUtf8Payload(token);
        return identityOf(payload);
      } catch (error) {
        throw toAuthError(error);
      }
    },
  };
}
