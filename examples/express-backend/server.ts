// A product's backend: it runs agents for its signed-in users and streams each run to the
// user's browser through Herald, and it signs the token the browser connects to Herald with.
//
//   REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=<the gateway's> node examples/dist/express-backend/server.js
//
//   POST /runs          starts a (simulated) agent run for the user; answers 202 {"run_id"} at once
//   GET  /herald-token  a short-lived JWT for the user, for @herald/client's getToken
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import express, { type Request, type Response } from 'express';
import { SignJWT } from 'jose';
import {
  createPublisher,
  HeraldPublishOutcomeUnknownError,
  type BroadcastResult,
  type PublishOptions,
} from '@herald/publisher-sdk';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(1);
  }
  return value;
}

const port = Number(process.env['PORT'] ?? 3000);
// The publisher writes to the Redis the gateways read; the gateways verify tokens with this secret.
const herald = createPublisher({ redisUrl: required('REDIS_URL') });
const jwtSecret = new TextEncoder().encode(required('JWT_SECRET'));

/**
 * A stand-in for your real authentication (session cookie, OAuth, …): this demo believes whatever
 * user the `x-demo-user` header names. Never let a client choose its user like this in production.
 */
function authenticatedUser(req: Request, res: Response): string | undefined {
  const userId = req.get('x-demo-user');
  if (!userId) res.status(401).json({ error: 'sign in first (demo: send an x-demo-user header)' });
  return userId;
}

/**
 * Publishes one event. When Redis may have stored it without answering, publishing again is safe
 * because `publish` always passes the same idempotency key: the event is stored and delivered once.
 */
async function once(publish: () => Promise<BroadcastResult>): Promise<BroadcastResult> {
  try {
    return await publish();
  } catch (error) {
    if (error instanceof HeraldPublishOutcomeUnknownError) return publish();
    throw error;
  }
}

/** Stands in for the agent: each step takes a moment, and each is published as it happens. */
async function runAgent(userId: string, runId: string, prompt: string): Promise<void> {
  const key = (step: string): PublishOptions => ({ idempotencyKey: `${runId}:${step}` });
  // Await each event before the next: a user's events reach the browser in the order Redis
  // stored them, and publishes made together are stored in no promised order.
  await once(() => herald.agentStarted(userId, runId, { prompt }, key('started')));
  await sleep(300);
  await once(() => herald.agentThinking(userId, runId, { thought: 'I should search current fares' }, key('thinking')));
  await sleep(300);
  await once(() => herald.toolExecuting(userId, runId, { tool: 'flight_search', input: { to: 'LIS' } }, key('tool_executing')));
  await sleep(300);
  await once(() => herald.toolCompleted(userId, runId, { tool: 'flight_search', output: { cheapest: 'EUR 89' } }, key('tool_completed')));
  await sleep(300);
  await once(() => herald.agentCompleted(userId, runId, { answer: 'EUR 89 on Tuesday' }, key('completed')));
}

const app = express();
/** Runs in progress: a shutdown lets them finish publishing. */
const runs = new Set<Promise<void>>();
let stopping = false;

app.post('/runs', express.json(), (req, res) => {
  const userId = authenticatedUser(req, res);
  if (!userId) return;
  if (stopping) {
    res.status(503).json({ error: 'shutting down' });
    return;
  }
  const body = req.body as { prompt?: unknown } | undefined;
  const prompt = typeof body?.prompt === 'string' ? body.prompt : 'Find the cheapest flight to Lisbon';
  const runId = `run-${randomUUID()}`;
  const run = runAgent(userId, runId, prompt)
    .then(() => console.log(`run ${runId} for ${userId}: completed`))
    .catch((error: unknown) => console.error(`run ${runId} for ${userId} failed:`, error))
    .finally(() => runs.delete(run));
  runs.add(run);
  res.status(202).json({ run_id: runId });
});

app.get('/herald-token', async (req, res) => {
  const userId = authenticatedUser(req, res);
  if (!userId) return;
  // Short-lived is enough: the client SDK asks for a new token before every connection, and
  // when the gateway closes a socket whose token expired, it reconnects with a fresh one.
  // If the gateways set JWT_ISSUER or JWT_AUDIENCE, add setIssuer / setAudience here.
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(jwtSecret);
  res.set('cache-control', 'no-store').type('text/plain').send(token);
});

const server = app.listen(port, () => console.log(`listening on http://localhost:${port}`));

async function shutdown(): Promise<void> {
  stopping = true;
  server.close();
  await Promise.allSettled(runs);
  // Answers the publishes already handed over, then closes the publisher's Redis connection.
  await herald.close();
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown());
