import type { WebSocket } from 'uWebSockets.js';

/** The sockets open on this node, so they can be counted and closed on shutdown (uWS has no app.close here). */
export class SocketRegistry<T> {
  private readonly open = new Set<WebSocket<T>>();
  private emptied: (() => void) | undefined;

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
   * Closes every socket with `code`; sockets that have not finished the closing handshake after
   * `graceMs` are cut. Resolves when none is left.
   */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    if (this.open.size === 0) return;
    const empty = new Promise<void>((resolve) => {
      this.emptied = resolve;
    });
    for (const ws of [...this.open]) ws.end(code, reason);
    const timer = setTimeout(() => {
      for (const ws of [...this.open]) ws.close();
    }, graceMs);
    await empty;
    clearTimeout(timer);
  }
}
