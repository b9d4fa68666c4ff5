#!/usr/bin/env node
// Started by scripts/fleet.mjs in a process group of its own; the fleet tells it on stdin, one JSON
// object a line, what it started ({ pid, name, role }, { exited: pid }) and its temporary
// directories ({ directory }, { removed }). The fleet's processes have process groups of their own,
// so a fleet killed before it could stop them (SIGKILL, a crash) would leave them running: when its
// end of the pipe closes, this stops whatever is still running, in the fleet's order, and removes
// the directories.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { stopInOrder } from './stop-order.mjs';

const STOP_TIMEOUT_MS = 10_000;
const KILL_TIMEOUT_MS = 5_000;

/** Processes by pid, with the start time that tells each apart from a later process given its pid. */
const running = new Map();
const directories = new Set();

const hasProc = existsSync('/proc/self/stat');

/** The process's start time while it runs (a zombie has finished running), else undefined. */
function startTime(pid) {
  if (!hasProc) {
    try {
      process.kill(pid, 0);
      return 'running';
    } catch {
      return undefined;
    }
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

function isRunning(member) {
  return member.startedAt !== undefined && startTime(member.pid) === member.startedAt;
}

function signal(member, name) {
  try {
    process.kill(member.pid, name);
  } catch {
    // it exited meanwhile
  }
}

async function stop(member) {
  if (!isRunning(member)) return;
  signal(member, 'SIGTERM');
  let deadline = Date.now() + STOP_TIMEOUT_MS;
  let killed = false;
  while (isRunning(member)) {
    if (Date.now() > deadline) {
      if (killed) return;
      signal(member, 'SIGKILL');
      killed = true;
      deadline = Date.now() + KILL_TIMEOUT_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function apply(message) {
  if (typeof message.pid === 'number') running.set(message.pid, { ...message, startedAt: startTime(message.pid) });
  if (typeof message.exited === 'number') running.delete(message.exited);
  if (typeof message.directory === 'string') directories.add(message.directory);
  if (typeof message.removed === 'string') directories.delete(message.removed);
}

process.stderr.on('error', () => {});
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  try {
    apply(JSON.parse(line));
  } catch {
    // not from the fleet
  }
});
lines.on('close', async () => {
  const left = [...running.values()].filter(isRunning);
  if (left.length === 0 && directories.size === 0) return;
  const stopping = left.length > 0 ? `stopping ${left.map(({ name }) => name).join(', ')} and ` : '';
  process.stderr.write(`fleet: the fleet script is gone; ${stopping}removing its files\n`);
  await stopInOrder(left, stop);
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});
