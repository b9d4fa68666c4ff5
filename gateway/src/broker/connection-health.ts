import type { Redis } from 'ioredis';

export interface ConnectionHealthOptions {
  /** How often a PING is sent while the connection is ready. */
  readonly intervalMs: number;
  /** Unanswered this long, the connection counts as silent (the node is not ready). */
  readonly silentAfterMs: number;
  /** Unanswered this long, the connection is dropped and made again. */
  readonly reconnectAfterMs: number;
  /** Told once per stall, when the connection is dropped. */
  readonly onReconnect: (silentForMs: number) => void;
}

/**
 * Watches one Redis connection for silence. A Redis that is stopped or cut off behind a live TCP
 * connection leaves ioredis "ready" forever; only an unanswered command shows it. A PING is sent
 * every interval; the connection is silent from the first PING that went unanswered until one is
 * answered. (A PING that timed out is answered later or never: the next one settles it.)
 */
export class ConnectionHealth {
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  /** When the oldest PING still waiting for an answer (or timed out without one since) was sent. */
  private waitingSince: number | undefined;
  private reconnecting = false;

  constructor(
    private readonly connection: Redis,
    private readonly options: ConnectionHealthOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** How long the connection has not answered; 0 when it answers (or is not connected). */
  silentForMs(now = Date.now()): number {
    return this.waitingSince === undefined ? 0 : now - this.waitingSince;
  }

  get silent(): boolean {
    return this.silentForMs() >= this.options.silentAfterMs;
  }

  private tick(): void {
    if (this.connection.status !== 'ready') {
      this.waitingSince = undefined;
      this.reconnecting = false;
      return;
    }
    const silentFor = this.silentForMs();
    if (silentFor >= this.options.reconnectAfterMs && !this.reconnecting) {
      this.reconnecting = true;
      this.options.onReconnect(silentFor);
      this.connection.disconnect(true);
      return;
    }
    if (this.pinging) return;
    this.pinging = true;
    this.waitingSince ??= Date.now();
    this.connection.ping().then(
      () => {
        this.waitingSince = undefined;
        this.pinging = false;
      },
      () => {
        this.pinging = false;
      },
    );
  }
}
