import { TestClient } from '../support/clients.js';
import { startTestGateway, type TestGateway } from '../support/in-process-gateway.js';
import { postPublish } from '../support/publish.js';
import { signTestToken } from '../support/tokens.js';

/** The value of one sample in Prometheus text format, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}`) || candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('GET /metrics on the admin port', () => {
  let node: TestGateway;

  beforeAll(async () => {
    node = await startTestGateway();
  });
  afterAll(async () => {
    await node.stop();
  });

  async function scrape(): Promise<string> {
    const response = await fetch(`${node.adminUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  }

  it('counts connections, deliveries, latency, auth failures and publish requests, labelled by node, never by user', async () => {
    const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'secret-user-name' }) });
    await postPublish(node.httpUrl, { user_id: 'secret-user-name', type: 'agent_started', data: { marker: 'payload-marker' } });
    await client.waitForEvents(1);
    await postPublish(node.httpUrl, { user_id: 'secret-user-name', type: 'Bad Type' });
    const expired = await TestClient.open(node.wsUrl, { token: await signTestToken({ sub: 'x', expiresIn: -5 }) });
    expect((await expired.waitForClose()).code).toBe(4001);

    const text = await scrape();
    expect(sample(text, 'herald_connections', 'node="test-node"')).toBe(1);
    expect(sample(text, 'herald_connections_opened_total')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'herald_subscribed_users')).toBe(1);
    expect(sample(text, 'herald_events_delivered_total')).toBe(1);
    expect(sample(text, 'herald_broker_messages_total', 'kind="event"')).toBe(1);
    expect(sample(text, 'herald_delivery_latency_seconds_count')).toBe(1);
    expect(sample(text, 'herald_auth_failures_total', 'reason="expired"')).toBe(1);
    expect(sample(text, 'herald_publish_requests_total', 'status="200"')).toBe(1);
    expect(sample(text, 'herald_publish_requests_total', 'status="400"')).toBe(1);
    expect(sample(text, 'herald_broker_connected')).toBe(1);
    expect(sample(text, 'herald_recovering')).toBe(0);
    expect(sample(text, 'herald_connections_limit')).toBe(15000);
    for (const processMetric of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(sample(text, processMetric)).toBeDefined();
    }
    expect(text).not.toContain('secret-user-name');
    expect(text).not.toContain('payload-marker');

    await client.close(1000);
    const after = await scrape();
    expect(sample(after, 'herald_connections_closed_total', 'code="1000"')).toBe(1);
    expect(sample(after, 'herald_connections', 'node="test-node"')).toBe(0);
  });

  it("counts Herald's close codes only when the node closed the socket: a client's own code is 'other'", async () => {
    const before = await scrape();
    for (const code of [4002, 4321, 4999]) {
      const client = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: `closer-${code}` }) });
      await client.close(code);
    }
    const rateLimited = await TestClient.connect(node.wsUrl, { token: await signTestToken({ sub: 'binary-sender' }) });
    rateLimited.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await rateLimited.waitForClose()).code).toBe(1003);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = await scrape();
    const delta = (labels: string) => (sample(after, 'herald_connections_closed_total', labels) ?? 0) - (sample(before, 'herald_connections_closed_total', labels) ?? 0);
    expect(delta('code="other"')).toBe(3);
    expect(delta('code="4002"')).toBe(0);
    expect(delta('code="1003"')).toBe(1);
    expect(after).not.toContain('code="4321"');
  });

  it('answers 404 for anything else on the admin port', async () => {
    expect((await fetch(`${node.adminUrl}/ws`)).status).toBe(404);
  });
});
