import type { WebSocket } from 'uWebSockets.js';

/** The sockets open on this node, so they can be counted and closed on shutdown (uWS has no app.close here). */
export class SocketRegistry<T> {
  private readonly open = new Set<WebSocket<T>>();
  private emptied: (() => void) | undefined;

  /** `end` closes a socket from the node's side (default: uWS's end). */
  constructor(private readonly end: (ws: WebSocket<T>, code: number, reason: string) => void = (ws, code, reason) => ws.end(code, reason)) {}

  get size(): number {
    return this.open.size;
  }

  add(ws: WebSocket<T>): void {
    this.open.add(ws);
  }

  /** Call from the close handler; after it the socket must not be touched. */
  remove(ws: WebSocket<T>): void {
    this.open.delete(ws);
    if (this.open.size === 0) this.emptied?.();
  }

  /**
   * Closes every socket with `code`, each at a random moment within `spreadMs` (so clients do not
   * all reconnect at once); sockets still open `graceMs` later are cut. Resolves when none is left.
   */
  async closeAll(code: number, reason: string, spreadMs: number, graceMs: number): Promise<void> {
    if (this.open.size === 0) return;
    const empty = new Promise<void>((resolve) => {
      this.emptied = resolve;
    });
    const timers: ReturnType<typeof setTimeout>[] = [];
    for (const ws of [...this.open]) {
      const close = () => {
        if (this.open.has(ws)) this.end(ws, code, reason);
      };
      if (spreadMs > 0) timers.push(setTimeout(close, Math.random() * spreadMs));
      else close();
    }
    timers.push(
      setTimeout(() => {
        for (const ws of [...this.open]) ws.close();
      }, spreadMs + graceMs),
    );
    await empty;
    for (const timer of timers) clearTimeout(timer);
  }
}
