import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, SignJWT } from 'jose';
import { AuthError, createTokenVerifier, loadConfig, type TokenVerifier, type VerificationKey } from '../src/index.js';
import { rejectionOf } from '../../test/support/errors.js';
import { TEST_JWT_SECRET, signRawPayload, signTestToken, unsecuredToken } from '../../test/support/tokens.js';

function failure(verifier: TokenVerifier, token: string): Promise<AuthError> {
  return rejectionOf(AuthError, verifier.verify(token));
}

function publicKeyConfig(publicKey: KeyObject): VerificationKey {
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key = loadConfig({ JWT_PUBLIC_KEY: pem }).auth.key;
  if (key.kind !== 'public-key') throw new Error('expected a public key');
  return key;
}

const noClaims = { issuer: undefined, audience: undefined };

describe('JWT verification with an HS256 secret', () => {
  const verifier = createTokenVerifier({ kind: 'secret', secret: TEST_JWT_SECRET }, noClaims);

  it('accepts a sub with any well-formed Unicode, astral characters and U+FFFD included', async () => {
    for (const sub of ['\u{1F600}user', 'victim\ufffd', 'a}:idem:k']) {
      expect((await verifier.verify(await signTestToken({ sub }))).userId).toBe(sub);
    }
  });

  it('accepts a valid token and returns its subject and expiry', async () => {
    const identity = await verifier.verify(await signTestToken({ sub: 'alice', expiresIn: 60 }));
    expect(identity.userId).toBe('alice');
    expect(identity.expiresAt).toBeGreaterThan(Date.now());
  });

  it.each([
    ['an expired token', () => signTestToken({ expiresIn: -10 }), 'expired', 401],
    ['a token without exp', () => signTestToken({ expiresIn: null }), 'missing_exp', 401],
    ['a token signed with another secret', () => signTestToken({ secret: 'another-secret-another-secret-another' }), 'invalid_signature', 401],
    ['a token without sub', () => signTestToken({ sub: undefined }), 'missing_sub', 403],
    ['a token whose sub is not a valid user id', () => signTestToken({ sub: 'bad\nuser' }), 'invalid_sub', 403],
    ['a token whose sub holds a lone surrogate', () => signTestToken({ sub: 'victim\ud800' }), 'invalid_sub', 403],
    [
      'a token whose payload is not UTF-8 (it would decode to U+FFFD)',
      async () => signRawPayload(Buffer.concat([Buffer.from('{"sub":"victim'), Buffer.from([0xff]), Buffer.from(`","exp":${Math.floor(Date.now() / 1000) + 60}}`)])),
      'malformed_token',
      401,
    ],
    ['an unsecured token (alg none)', async () => unsecuredToken(), 'algorithm_not_allowed', 401],
    ['garbage', async () => 'not-a-jwt', 'malformed_token', 401],
    ['an empty token', async () => '', 'missing_token', 401],
    ['an oversized token', async () => 'a'.repeat(9000), 'malformed_token', 401],
  ])('refuses %s (%s, HTTP %d)', async (_label, token, reason, status) => {
    const error = await failure(verifier, await token());
    expect(error.reason).toBe(reason);
    expect(error.status).toBe(status);
  });

  it('refuses a token that is not valid yet', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setNotBefore(Math.floor(Date.now() / 1000) + 3600)
      .setExpirationTime('2h')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect((await failure(verifier, token)).reason).toBe('not_yet_valid');
  });

  it('refuses HS384 even with the right secret (only HS256 is configured)', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS384' })
      .setSubject('alice')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    expect((await failure(verifier, token)).reason).toBe('algorithm_not_allowed');
  });
});

describe('JWT verification of issuer and audience', () => {
  const verifier = createTokenVerifier(
    { kind: 'secret', secret: TEST_JWT_SECRET },
    { issuer: 'https://auth.example.com/', audience: ['herald', 'herald-2'] },
  );

  it('accepts the configured issuer and any configured audience', async () => {
    const token = await signTestToken({ issuer: 'https://auth.example.com/', audience: 'herald-2' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'user-1' });
  });

  it('refuses another issuer', async () => {
    const token = await signTestToken({ issuer: 'https://evil.example.com/', audience: 'herald' });
    expect((await failure(verifier, token)).reason).toBe('wrong_issuer');
  });

  it('refuses another audience', async () => {
    const token = await signTestToken({ issuer: 'https://auth.example.com/', audience: 'billing' });
    expect((await failure(verifier, token)).reason).toBe('wrong_audience');
  });

  it('refuses a token with no issuer when one is required', async () => {
    expect((await failure(verifier, await signTestToken({ audience: 'herald' }))).reason).toBe('wrong_issuer');
  });
});

describe('JWT verification with a public key', () => {
  it.each([
    ['RS256', 'rsa', { modulusLength: 2048 }],
    ['ES256', 'ec', { namedCurve: 'P-256' }],
    ['EdDSA', 'ed25519', {}],
  ] as const)('accepts %s tokens signed with the matching private key', async (alg, type, options) => {
    const { publicKey, privateKey } = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
    const verifier = createTokenVerifier(publicKeyConfig(publicKey), noClaims);
    const token = await signTestToken({ sub: 'carol', key: { key: privateKey, alg } });
    await expect(verifier.verify(token)).resolves.toMatchObject({ userId: 'carol' });
  });

  it('refuses an HS256 token whose secret is the public key itself (algorithm confusion)', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const verifier = createTokenVerifier(publicKeyConfig(publicKey), noClaims);
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const forged = await signTestToken({ key: { key: new TextEncoder().encode(pem), alg: 'HS256' } });
    expect((await failure(verifier, forged)).reason).toBe('algorithm_not_allowed');
  });

  it('refuses a token signed by another key of the same type', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const verifier = createTokenVerifier(publicKeyConfig(publicKey), noClaims);
    const token = await signTestToken({ key: { key: other.privateKey, alg: 'ES256' } });
    expect((await failure(verifier, token)).reason).toBe('invalid_signature');
  });
});

describe('JWT verification against a JWKS endpoint', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let server: Server;
  let url: URL;
  let available = true;

  beforeAll(async () => {
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((_req, res) => {
      if (!available) {
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    url = new URL(`http://127.0.0.1:${address.port}/jwks`);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function sign(kid: string) {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid })
      .setSubject('dave')
      .setExpirationTime('10m')
      .sign(privateKey);
  }

  it('accepts a token signed by a key in the set', async () => {
    const verifier = createTokenVerifier({ kind: 'jwks', url }, noClaims);
    await expect(verifier.verify(await sign('k1'))).resolves.toMatchObject({ userId: 'dave' });
  });

  it('answers 503 (retry) rather than 401 when the key set cannot be fetched', async () => {
    available = false;
    try {
      const verifier = createTokenVerifier({ kind: 'jwks', url }, noClaims);
      const error = await failure(verifier, await sign('k1'));
      expect(error.reason).toBe('key_unavailable');
      expect(error.status).toBe(503);
    } finally {
      available = true;
    }
  });

  it('refuses HS256 tokens outright, whatever the set holds', async () => {
    const verifier = createTokenVerifier({ kind: 'jwks', url }, noClaims);
    expect((await failure(verifier, await signTestToken())).reason).toBe('algorithm_not_allowed');
  });
});
