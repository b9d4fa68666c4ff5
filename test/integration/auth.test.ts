import { generateKeyPairSync } from 'node:crypto';
import { TestClient, UpgradeRefused } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { signTestToken, unsecuredToken } from '../support/tokens.js';

const ISSUER = 'https://auth.example.com/';
const AUDIENCE = 'herald';

async function refusal(url: string, token: string | undefined): Promise<UpgradeRefused> {
  const outcome = await TestClient.open(url, token === undefined ? {} : { token }).then(
    (client) => {
      client.terminate();
      return undefined;
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof UpgradeRefused)) throw new Error(`expected the upgrade to be refused, got ${String(outcome)}`);
  return outcome;
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
    ['no token', async () => undefined, 401, 'missing_token'],
    ['an expired token', () => signTestToken({ ...valid, expiresIn: -5 }), 401, 'expired'],
    ['a token signed with another key', () => signTestToken({ ...valid, secret: 'z'.repeat(40) }), 401, 'invalid_signature'],
    ['a token from another issuer', () => signTestToken({ ...valid, issuer: 'https://other/' }), 401, 'wrong_issuer'],
    ['a token for another audience', () => signTestToken({ ...valid, audience: 'billing' }), 401, 'wrong_audience'],
    ['a token without exp', () => signTestToken({ ...valid, expiresIn: null }), 401, 'missing_exp'],
    ['an unsecured token (alg none)', async () => unsecuredToken(), 401, 'algorithm_not_allowed'],
    ['a token without sub', () => signTestToken({ ...valid, sub: undefined }), 403, 'missing_sub'],
    ['a token whose sub is not a valid user id', () => signTestToken({ ...valid, sub: 'x'.repeat(200) }), 403, 'invalid_sub'],
  ])('refuses %s with HTTP %d and never upgrades', async (_label, token, status, code) => {
    const refused = await refusal(node.wsUrl, await token());
    expect(refused.status).toBe(status);
    expect(JSON.parse(refused.body)).toEqual({ error: { code, message: expect.any(String) } });
    if (status === 401) expect(refused.headers['www-authenticate']).toBe('Bearer');
  });

  it('never echoes the token in a refusal', async () => {
    const token = await signTestToken({ ...valid, expiresIn: -5 });
    const refused = await refusal(node.wsUrl, token);
    expect(refused.body).not.toContain(token.split('.')[1]);
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
    const refused = await refusal(node.wsUrl, forged);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).error.code).toBe('algorithm_not_allowed');
  });
});
