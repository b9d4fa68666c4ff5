import { generateKeyPairSync } from 'node:crypto';
import { CloseCodes } from '@herald/protocol';
import { TestClient, UpgradeRefused, type CloseInfo } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { freePort } from '../support/ports.js';
import { signTestToken, unsecuredToken } from '../support/tokens.js';

const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'herald';
const UNAUTHORIZED = CloseCodes.UNAUTHORIZED.code;

/** How the gateway closed a socket opened with `token`; fails if any frame came first. */
async function closeOf(url: string, token: string | undefined): Promise<CloseInfo> {
  const client = await TestClient.open(url, token === undefined ? {} : { token });
  const closed = await client.waitForClose();
  expect(client.frames).toEqual([]);
  return closed;
}

describe('websocket authentication over real upgrade requests (HS256)', () => {
  let node: TestGateway;

  beforeAll(async () => {
    node = await startTestGateway({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  });
  afterAll(async () => {
    await node.stop();
  });

  const valid = { issuer: ISSUER, audience: AUDIENCE };

  it('upgrades a valid token', async () => {
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ ...valid, sub: 'ok-user' }) });
    expect(client.welcome.user_id).toBe('ok-user');
    client.terminate();
  });

  it.each([
    ['no token', UNAUTHORIZED, 'missing_token', async () => undefined],
    ['an expired token', CloseCodes.TOKEN_EXPIRED.code, 'expired', () => signTestToken({ ...valid, expiresIn: -5 })],
    ['a token signed with another key', UNAUTHORIZED, 'invalid_signature', () => signTestToken({ ...valid, secret: 'z'.repeat(40) })],
    ['a token from another issuer', UNAUTHORIZED, 'wrong_issuer', () => signTestToken({ ...valid, issuer: 'https://other/' })],
    ['a token for another audience', UNAUTHORIZED, 'wrong_audience', () => signTestToken({ ...valid, audience: 'billing' })],
    ['a token without exp', UNAUTHORIZED, 'missing_exp', () => signTestToken({ ...valid, expiresIn: null })],
    ['an unsecured token (alg none)', UNAUTHORIZED, 'algorithm_not_allowed', async () => unsecuredToken()],
    ['a token without sub', UNAUTHORIZED, 'missing_sub', () => signTestToken({ ...valid, sub: undefined })],
    ['a token whose sub is not a valid user id', UNAUTHORIZED, 'invalid_sub', () => signTestToken({ ...valid, sub: 'x'.repeat(200) })],
    ['a token too long to verify', UNAUTHORIZED, 'malformed_token', async () => 'a'.repeat(9000)],
  ])('closes the socket of %s with %d and the reason %s, before any frame', async (_label, code, reason, token) => {
    expect(await closeOf(node.wsUrl, await token())).toEqual({ code, reason });
  });

  it('never puts the token in the close reason', async () => {
    const token = await signTestToken({ ...valid, expiresIn: -5 });
    const closed = await closeOf(node.wsUrl, token);
    for (const part of token.split('.')) expect(closed.reason).not.toContain(part);
  });
});

describe('the node limits apply before a token is read', () => {
  it('refuses a bad-token upgrade with 503 when the node is full, rather than accepting and closing it', async () => {
    const node = await startTestGateway({ MAX_CONNECTIONS: '1' });
    try {
      const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'first' }) });
      const refused = await TestClient.open(node.wsUrl, { token: 'garbage' }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect((refused as UpgradeRefused).status).toBe(503);
      client.terminate();
    } finally {
      await node.stop();
    }
  });
});

describe('websocket authentication with a public key (RS256)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let node: TestGateway;

  beforeAll(async () => {
    node = await startTestGateway({ JWT_SECRET: '', JWT_PUBLIC_KEY: pem });
  });
  afterAll(async () => {
    await node.stop();
  });

  it('upgrades an RS256 token signed by the private key', async () => {
    const token = await signTestToken({ sub: 'rsa-user', key: { key: privateKey, alg: 'RS256' } });
    const client = await TestClient.connect(node.wsUrl, { token });
    expect(client.welcome.user_id).toBe('rsa-user');
    client.terminate();
  });

  it('refuses an HS256 token that uses the public key as its secret (algorithm confusion)', async () => {
    const forged = await signTestToken({ key: { key: new TextEncoder().encode(pem), alg: 'HS256' } });
    expect(await closeOf(node.wsUrl, forged)).toEqual({ code: UNAUTHORIZED, reason: 'algorithm_not_allowed' });
  });
});

describe('websocket authentication when the signing keys cannot be fetched', () => {
  it("answers 503 with Retry-After, the node's fault to retry, rather than closing the socket as unauthorized", async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const node = await startTestGateway({ JWT_SECRET: '', JWT_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks.json` });
    try {
      const token = await signTestToken({ sub: 'jwks-user', key: { key: privateKey, alg: 'RS256' } });
      const refused = await TestClient.open(node.wsUrl, { token }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect((refused as UpgradeRefused).status).toBe(503);
      expect((refused as UpgradeRefused).headers['retry-after']).toBe('5');
      expect(JSON.parse((refused as UpgradeRefused).body)).toMatchObject({ error: { code: 'key_unavailable' } });
    } finally {
      await node.stop();
    }
  });
});
