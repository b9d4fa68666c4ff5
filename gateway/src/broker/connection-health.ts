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
  /**
   * The connection must lead to a primary (it writes): its health check asks the server's ROLE
   * instead of a PING, and a replica (read-only) makes it unavailable.
   */
  readonly requirePrimary?: boolean;
}

/**
 * Watches one Redis connection for silence. A Redis that is stopped or cut off behind a live TCP
 * connection leaves ioredis "ready" forever; only an unanswered command shows it. A PING is sent
 * every interval; the connection is silent from the first PING that went unanswered until one is
 * answered. (A PING that timed out is answered later or never: the next one settles it.)
 *
 * Silence is judged on each tick only, and time this process itself was stalled (its event loop
 * blocked, so an answer may sit unread) does not count as Redis's silence.
 */
export class ConnectionHealth {
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  /** When the oldest PING still waiting for an answer (or timed out without one since) was sent. */
  private waitingSince: number | undefined;
  private lastTick: number | undefined;
  private judgedSilent = false;
  private reconnecting = false;
  /** Dropped for its silence, and no PING answered since: it may lead back to a Redis that still hangs. */
  private silentSinceDrop = false;
  /** When the connection was first seen not ready (undefined while it is ready). */
  private notReadySince: number | undefined;
  /** The last health check found a replica where a primary is required. */
  private onReplica = false;

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
    return this.judgedSilent;
  }

  /** Whether the last health check found a read-only replica where a primary is required. */
  get readOnly(): boolean {
    return this.onReplica;
  }

  /**
   * Known not to answer now: silent, or not connected for longer than a blip (`silentAfterMs`).
   * Work that would wait on the connection is better refused at once.
   */
  get unavailable(): boolean {
    if (this.judgedSilent || this.onReplica) return true;
    return this.notReadySince !== undefined && Date.now() - this.notReadySince > this.options.silentAfterMs;
  }

  private tick(): void {
    const now = Date.now();
    const stalled = this.lastTick === undefined ? 0 : Math.max(0, now - this.lastTick - this.options.intervalMs);
    this.lastTick = now;
    if (this.connection.status !== 'ready') {
      this.waitingSince = undefined;
      this.judgedSilent = this.silentSinceDrop;
      this.reconnecting = false;
      this.notReadySince ??= now;
      return;
    }
    this.notReadySince = undefined;
    if (this.waitingSince !== undefined) this.waitingSince += stalled;
    const silentFor = this.silentForMs(now);
    this.judgedSilent = this.silentSinceDrop || silentFor > this.options.silentAfterMs;
    if (silentFor >= this.options.reconnectAfterMs && !this.reconnecting) {
      this.reconnecting = true;
      this.silentSinceDrop = true;
      this.options.onReconnect(silentFor);
      this.connection.disconnect(true);
      return;
    }
    if (this.pinging) return;
    this.pinging = true;
    this.waitingSince ??= now;
    this.check().then(
      () => {
        this.waitingSince = undefined;
        this.judgedSilent = false;
        this.silentSinceDrop = false;
        this.pinging = false;
      },
      () => {
        this.pinging = false;
      },
    );
  }

  private async check(): Promise<void> {
    if (!this.options.requirePrimary) {
      await this.connection.ping();
      return;
    }
    const role = (await this.connection.call('ROLE')) as unknown[];
    this.onReplica = role[0] !== 'master';
  }
}
