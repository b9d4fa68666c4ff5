// Processes the load tool starts (Redis, gateways, peers, HAProxy): their output is kept for the
// error message when one dies, and every one is killed when the tool exits, whatever happens.
import { spawn } from 'node:child_process';

const everyChild = new Set();
const cleanups = new Set();

function killEveryChild() {
  for (const child of everyChild) child.kill('SIGKILL');
  for (const cleanup of cleanups) cleanup();
}
process.once('exit', killEveryChild);
// A signal ends Node without 'exit': stop what the tool started first (Ctrl-C, timeout, CI).
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(signal, () => {
    process.stderr.write(`\nloadtest: ${signal}: stopping what it started\n`);
    killEveryChild();
    process.exit(128 + number);
  });
}

/** Makes sure `child` is killed when the tool exits or is stopped by a signal. */
export function track(child) {
  everyChild.add(child);
  child.once('exit', () => everyChild.delete(child));
}

/** Runs `cleanup` (say, removing a temporary directory) when the tool exits, however it does. */
export function atExit(cleanup) {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

export class Children {
  constructor() {
    this.byName = new Map();
  }

  /** Spawns `command`; `env` is its whole environment. An exit before stop() is reported on stderr. */
  spawn(name, command, args, env) {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    const tail = [];
    const keep = (chunk) => {
      tail.push(chunk.toString());
      if (tail.length > 50) tail.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', (code, signal) => {
      if (!child.stopping) process.stderr.write(`loadtest: ${name} exited (${signal ?? code})\n${tail.join('')}\n`);
    });
    this.byName.set(name, child);
    return child;
  }

  /** Sends `signal` to one child and resolves when it has exited (SIGKILL after 10 s). */
  stop(name, signal = 'SIGTERM') {
    const child = this.byName.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    child.stopping = true;
    return new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill(signal);
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
  }

  async stopAll() {
    await Promise.all([...this.byName.keys()].map((name) => this.stop(name)));
  }
}
