import { createPublicKey, type KeyObject } from 'node:crypto';

/** A public key and the only JWS algorithms accepted with it (never HS*, never "none"). */
export interface PublicVerificationKey {
  readonly key: KeyObject;
  readonly algorithms: readonly string[];
}

/** Algorithms accepted from a JWKS: asymmetric only, so a public key can never be used as an HMAC secret. */
export const JWKS_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
];

const EC_CURVE_ALGORITHMS: Readonly<Record<string, string>> = {
  prime256v1: 'ES256',
  secp384r1: 'ES384',
  secp521r1: 'ES512',
};

/**
 * Reads a PEM public key (SPKI or X.509 certificate; `\n` escapes accepted, as env files often
 * carry them) and picks the algorithms its type allows. Throws Error with a reason.
 */
export function publicKeyFromPem(pem: string): PublicVerificationKey {
  const text = pem.includes('\n') ? pem : pem.replace(/\\n/g, '\n');
  if (/PRIVATE KEY/.test(text)) {
    throw new Error('holds a private key; give only the public key (BEGIN PUBLIC KEY)');
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch {
    throw new Error('is not a PEM public key (expected -----BEGIN PUBLIC KEY-----)');
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (type) {
    case 'rsa':
    case 'rsa-pss': {
      if ((details.modulusLength ?? 0) < 2048) {
        throw new Error(`is an RSA key of ${details.modulusLength ?? '?'} bits; at least 2048 are required`);
      }
      const family = type === 'rsa' ? 'RS' : 'PS';
      return { key, algorithms: [`${family}256`, `${family}384`, `${family}512`] };
    }
    case 'ec': {
      const algorithm = EC_CURVE_ALGORITHMS[details.namedCurve ?? ''];
      if (!algorithm) throw new Error(`uses unsupported curve ${details.namedCurve ?? '?'} (P-256, P-384, P-521 are)`);
      return { key, algorithms: [algorithm] };
    }
    case 'ed25519':
      return { key, algorithms: ['EdDSA', 'Ed25519'] };
    default:
      throw new Error(`has unsupported key type ${type ?? '?'} (RSA, EC or Ed25519 are)`);
  }
}
