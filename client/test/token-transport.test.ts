import { welcomeFrame } from '@herald/protocol';
import { connect, type HeraldClient, type WebSocketLike } from '../src/index.js';
import { signTestToken } from '../../test/support/tokens.js';
import { waitUntil } from '../../test/support/wait.js';

/** Records what the client opens sockets with; the test plays the gateway. */
class RecordingSocket implements WebSocketLike {
  static readonly opened: RecordingSocket[] = [];
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols?: string | string[],
  ) {
    RecordingSocket.opened.push(this);
  }

  send(): void {}

  close(): void {
    this.readyState = 3;
  }

  welcome(since: string): void {
    this.readyState = 1;
    this.onopen?.({});
    this.onmessage?.({ data: JSON.stringify(welcomeFrame({ node: 'n1', user_id: 'user-1', connection_id: 'c1', since })) });
  }

  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

describe('the client SDK sends its token', () => {
  let client: HeraldClient | undefined;
  afterEach(() => client?.close());

  it('as the bearer.<jwt> subprotocol and never in the URL, on every connection', async () => {
    const tokens = [await signTestToken({ sub: 'user-1' }), await signTestToken({ sub: 'user-1', expiresIn: 1200 })];
    let asked = 0;
    client = connect({
      url: 'wss://herald.example/ws',
      getToken: () => tokens[asked++] as string,
      since: '1700000000000-1',
      WebSocket: RecordingSocket,
      reconnect: { initialDelayMs: 1, maxDelayMs: 1 },
      pingIntervalMs: 0,
    });
    const first = await waitUntil('the first socket', () => RecordingSocket.opened[0]);
    first.welcome('1700000000000-1');
    first.drop(1001);
    const second = await waitUntil('the reconnection', () => RecordingSocket.opened[1]);

    expect([first.url, second.url]).toEqual(['wss://herald.example/ws?since=1700000000000-1', 'wss://herald.example/ws?since=1700000000000-1']);
    expect([first.protocols, second.protocols]).toEqual([[`bearer.${tokens[0]}`], [`bearer.${tokens[1]}`]]);
  });
});
