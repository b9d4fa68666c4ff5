// The coordinator's side of the worker processes: fork, send, and wait for a reply of a type.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export class Worker {
  constructor(script, label) {
    this.label = label;
    this.child = fork(fileURLToPath(new URL(`../workers/${script}`, import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.waiting = new Map();
    this.listeners = new Map();
    this.child.on('message', (message) => {
      if (message.type === 'error') {
        this.fail(new Error(`${label}: ${message.message}`));
        return;
      }
      this.listeners.get(message.type)?.(message);
      // Replies of one type come back in the order they were asked for.
      this.waiting.get(message.type)?.shift()?.resolve(message);
    });
    this.child.once('exit', (code, signal) => {
      if (!this.finished) this.fail(new Error(`${label} exited (${signal ?? code})`));
    });
  }

  fail(error) {
    for (const waiters of this.waiting.values()) for (const waiter of waiters) waiter.reject(error);
    this.waiting.clear();
    this.onFailure?.(error);
  }

  send(message) {
    this.child.send(message);
  }

  /** Sends `message` and resolves with the next reply of type `replyType`. */
  request(message, replyType) {
    const reply = new Promise((resolve, reject) => {
      if (!this.waiting.has(replyType)) this.waiting.set(replyType, []);
      this.waiting.get(replyType).push({ resolve, reject });
    });
    this.send(message);
    return reply;
  }

  on(type, listener) {
    this.listeners.set(type, listener);
  }

  kill() {
    this.finished = true;
    this.child.kill('SIGKILL');
  }
}
