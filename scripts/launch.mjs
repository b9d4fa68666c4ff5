#!/usr/bin/env node
// `npm start` and `npm run fleet`: builds Herald, then runs a Node entry point in the foreground.
//   node scripts/launch.mjs <entry.js> [args...]
// npm forwards SIGINT and SIGTERM to its script but not through the `sh -c` it runs it in while that
// shell waits for a command. This launcher runs each step without a shell in between, passes
// SIGINT, SIGTERM and SIGHUP on to it, and exits as the entry point exits.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How often the launcher checks that npm (its parent) is still there. */
const PARENT_CHECK_MS = 500;

const root = fileURLToPath(new URL('..', import.meta.url));
const [entry, ...args] = process.argv.slice(2);
if (entry === undefined) {
  process.stderr.write('usage: node scripts/launch.mjs <entry.js> [args...]\n');
  process.exit(2);
}

/** What runs now: the build (its own process group, so all of it) or the entry point. */
let current;
/** The first stop request; the entry point is not started after one. */
let requested;

function forward(signal) {
  requested ??= signal;
  if (current === undefined || current.child.exitCode !== null || current.child.signalCode !== null) return;
  try {
    process.kill(current.group ? -current.child.pid : current.child.pid, signal);
  } catch {
    // it exited meanwhile
  }
}
for (const signal of FORWARDED) process.on(signal, () => forward(signal));

// npm dies of a SIGHUP (it forwards none) or a SIGKILL without stopping its script: stop what
// runs, as a hangup would, rather than leave it running without a parent. Once: a gateway takes
// a later signal as the request to stop at once.
const parent = process.ppid;
const parentCheck = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(parentCheck);
  forward('SIGHUP');
}, PARENT_CHECK_MS).unref();

/** Runs a command with this terminal; resolves with how it ended. */
function run(command, commandArgs, { group, channel = false }) {
  // The entry point gets an IPC channel: when the launcher dies, even of SIGKILL, the channel
  // closes and the entry point stops ('disconnect'), rather than run on without a parent.
  const stdio = channel ? ['inherit', 'inherit', 'inherit', 'ipc'] : 'inherit';
  const child = spawn(command, commandArgs, { cwd: root, stdio, detached: group });
  current = { child, group };
  return new Promise((resolve) => {
    child.once('error', (error) => {
      process.stderr.write(`herald: cannot run ${command}: ${error.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Builds, then runs the entry point unless a stop was requested meanwhile; resolves with how the last step ended. */
async function launch() {
  // The build gets a process group of its own: npm and the shell it runs `build` in would pass a
  // SIGTERM to the shell alone, leaving tsc behind; a signal to the group reaches all of them.
  const built = await run('npm', ['run', 'build'], { group: true });
  if (requested !== undefined) return { code: null, signal: requested };
  if (built.signal !== null || built.code !== 0) return built;
  return run(process.execPath, [entry, ...args], { group: false, channel: true });
}

// Ends as the last step ended: with its code, or killed by its signal, as a shell would report it.
const { code, signal } = await launch();
if (signal === null) process.exit(code ?? 1);
for (const name of FORWARDED) process.removeAllListeners(name);
process.kill(process.pid, signal);
