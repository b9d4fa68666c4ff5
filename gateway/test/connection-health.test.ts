import type { Redis } from 'ioredis';
import { ConnectionHealth } from '../src/broker/connection-health.js';

/** A connection that is "ready" and answers PING only when told to. */
function fakeConnection() {
  const waiting: (() => void)[] = [];
  const connection = {
    status: 'ready',
    disconnected: 0,
    ping: () => new Promise<string>((resolve) => waiting.push(() => resolve('PONG'))),
    disconnect: () => {
      connection.disconnected += 1;
    },
    answerAll: () => waiting.splice(0).forEach((answer) => answer()),
  };
  return connection;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the node is busy: nothing else runs
  }
}

describe('ConnectionHealth', () => {
  const options = { intervalMs: 50, silentAfterMs: 200, reconnectAfterMs: 600, onReconnect: () => {} };
  let health: ConnectionHealth | undefined;

  /** A fake connection, watched from now on (the watch stops after the test). */
  function watched(): ReturnType<typeof fakeConnection> & { readonly health: ConnectionHealth } {
    const connection = fakeConnection();
    health = new ConnectionHealth(connection as unknown as Redis, options);
    health.start();
    return Object.assign(connection, { health });
  }

  afterEach(() => health?.stop());

  it('calls a connection silent once a PING has gone unanswered past the threshold, and well again once one is answered', async () => {
    const connection = watched();
    await sleep(120);
    expect(connection.health.silent).toBe(false);
    await sleep(250);
    expect(connection.health.silent).toBe(true);
    connection.answerAll();
    await sleep(0);
    expect(connection.health.silent).toBe(false);
  });

  it("does not count the node's own stalled event loop as Redis's silence", async () => {
    const connection = watched();
    await sleep(60); // a PING is out
    blockEventLoop(400); // its answer would sit unread meanwhile
    await sleep(60);
    expect(connection.health.silent).toBe(false);
    connection.answerAll();
  });

  it('drops and remakes a connection silent past the reconnect threshold', async () => {
    const connection = watched();
    await sleep(800);
    expect(connection.disconnected).toBe(1);
  });

  it('keeps a connection it dropped for its silence silent while it reconnects, and until a PING is answered', async () => {
    const connection = watched();
    connection.disconnect = () => {
      connection.disconnected += 1;
      connection.status = 'connect';
    };
    await sleep(800);
    expect(connection.disconnected).toBe(1);
    expect(connection.health.silent).toBe(true);
    connection.status = 'ready'; // connected again, not answered yet
    await sleep(100);
    expect(connection.health.silent).toBe(true);
    connection.answerAll();
    await sleep(0);
    expect(connection.health).toMatchObject({ silent: false, unavailable: false });
  });

  it('calls a connection unavailable once it has been down for longer than a blip', async () => {
    const connection = watched();
    connection.answerAll();
    connection.status = 'reconnecting';
    await sleep(120);
    expect(connection.health).toMatchObject({ silent: false, unavailable: false });
    await sleep(250);
    expect(connection.health).toMatchObject({ silent: false, unavailable: true });
    connection.status = 'ready';
    await sleep(60);
    expect(connection.health.unavailable).toBe(false);
    connection.answerAll();
  });
});
