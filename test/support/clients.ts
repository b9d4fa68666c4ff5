import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import {
  isControlFrame,
  parseServerFrame,
  type EventEnvelope,
  type ServerFrame,
  type WelcomeFrame,
} from '@herald/protocol';
import { waitUntil } from './wait.js';

export type TokenTransport = 'header' | 'protocol' | 'query';

export interface ConnectOptions {
  readonly token?: string;
  readonly via?: TokenTransport;
  /** Extra subprotocols to offer. */
  readonly protocols?: readonly string[];
  /** Stamps each received frame (see TestClient.receivedAt), e.g. with a test's logical clock. */
  readonly clock?: () => number;
}

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** The gateway answered the upgrade with an HTTP error instead of 101. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: IncomingMessage['headers'],
  ) {
    super(`upgrade refused with HTTP ${status}: ${body}`);
  }
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    response.on('data', (chunk: Buffer) => (body += chunk.toString()));
    response.on('end', () => resolve(body));
    response.on('error', () => resolve(body));
  });
}

/** A WebSocket client that records every frame, for asserting on what the gateway sent. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  /** The clock's reading when each frame arrived (same index as `frames`). */
  readonly receivedAt: number[] = [];
  closed: CloseInfo | undefined;
  private readonly closedPromise: Promise<CloseInfo>;

  private constructor(
    readonly socket: WebSocket,
    clock: () => number,
  ) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) throw new Error('the gateway sent a binary frame');
      this.receivedAt.push(clock());
      this.frames.push(parseServerFrame(data.toString('utf8')));
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', (code: number, reason: Buffer) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      });
    });
  }

  /**
   * Opens a socket and waits for `herald.welcome`. Rejects with UpgradeRefused on an HTTP error,
   * and if the socket closes first, except that a socket dropped right after its upgrade without
   * a close frame (1006) is opened again, up to twice: uWebSockets.js 20.30 drops about one fresh
   * socket in several hundred under load that way, before Herald's code sees it (the client SDK
   * reconnects and resumes). Tests that count connections use their own clients.
   */
  static async connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    for (let attempt = 1; ; attempt++) {
      const opened = await TestClient.open(url, options);
      const welcomed = opened.waitFor('herald.welcome', (frames) => frames.some((frame) => frame.type === 'herald.welcome'));
      const first = await Promise.race([welcomed.then(() => 'welcomed' as const), opened.closedPromise.then(() => 'closed' as const)]);
      if (first === 'welcomed') return opened;
      welcomed.catch(() => undefined);
      const closed = opened.closed;
      if (closed?.code === 1006 && attempt < 3) continue;
      throw new Error(`the socket closed with ${closed?.code} (${closed?.reason}) before herald.welcome`);
    }
  }

  /** Opens a socket without waiting for the welcome frame. */
  static open(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    const via = options.via ?? 'header';
    const protocols = [...(options.protocols ?? [])];
    const headers: Record<string, string> = {};
    let target = url;
    if (options.token !== undefined) {
      if (via === 'header') headers['authorization'] = `Bearer ${options.token}`;
      if (via === 'protocol') protocols.push(`bearer.${options.token}`);
      if (via === 'query') target += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(options.token)}`;
    }
    const socket = new WebSocket(target, protocols, { headers });
    const client = new TestClient(socket, options.clock ?? Date.now);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response: IncomingMessage) => {
        const connection = response.socket;
        void readBody(response).then((body) => {
          // With a listener for this event ws leaves the connection open, and the server keeps it alive.
          connection.destroy();
          reject(new UpgradeRefused(response.statusCode ?? 0, body, response.headers));
        });
      });
      socket.once('error', (error) => reject(error));
    });
  }

  /** The clock's reading when herald.welcome arrived. */
  get welcomedAt(): number {
    const index = this.frames.findIndex((frame) => frame.type === 'herald.welcome');
    if (index < 0) throw new Error('no herald.welcome received');
    return this.receivedAt[index] as number;
  }

  get welcome(): WelcomeFrame {
    const frame = this.frames.find((candidate): candidate is WelcomeFrame => candidate.type === 'herald.welcome');
    if (!frame) throw new Error('no herald.welcome received');
    return frame;
  }

  /** Events received so far, in arrival order (control frames left out). */
  events(): EventEnvelope[] {
    return this.frames.filter((frame): frame is EventEnvelope => !isControlFrame(frame));
  }

  send(frame: string | object): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  waitFor(what: string, predicate: (frames: readonly ServerFrame[]) => boolean, timeoutMs = 10_000): Promise<void> {
    return waitUntil(what, () => predicate(this.frames) || undefined, timeoutMs, 5).then(() => undefined);
  }

  waitForEvents(count: number, timeoutMs = 10_000): Promise<EventEnvelope[]> {
    return waitUntil(`${count} events`, () => (this.events().length >= count ? this.events() : undefined), timeoutMs, 5);
  }

  waitForClose(timeoutMs = 10_000): Promise<CloseInfo> {
    return Promise.race([
      this.closedPromise,
      new Promise<never>((_resolve, reject) =>
        setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  close(code = 1000): Promise<CloseInfo> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code);
    }
    return this.closedPromise;
  }

  terminate(): void {
    this.socket.terminate();
  }
}
