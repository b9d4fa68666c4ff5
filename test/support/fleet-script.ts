import type { ChildProcess } from 'node:child_process';
import { sendSignal, spawnWatched } from './child-process.js';
import { REPO_ROOT } from './paths.js';
import { waitUntil } from './wait.js';

/** `npm run fleet` (scripts/fleet.mjs) running: Redis, gateway nodes and HAProxy. */
export interface FleetScript {
  readonly process: ChildProcess;
  /** The process group when started through npm, else the script's pid: what stopFleetScript signals. */
  readonly target: number;
  readonly exited: Promise<number | null>;
  output(): string;
}

export interface FleetScriptOptions {
  readonly path?: string;
  /** More environment variables (the fleet gets only PATH and HOME otherwise). */
  readonly env?: Readonly<Record<string, string>>;
  /** Run `npm run fleet` in a process group of its own, as a terminal does. */
  readonly viaNpm?: boolean;
}

export function startFleetScript(args: readonly string[], options: FleetScriptOptions = {}): FleetScript {
  const [command, commandArgs] = options.viaNpm
    ? ['npm', ['run', 'fleet', '--', ...args]]
    : [process.execPath, ['scripts/fleet.mjs', ...args]];
  const { child, pid, exited, output } = spawnWatched(command, commandArgs, {
    cwd: REPO_ROOT,
    env: { PATH: options.path ?? process.env['PATH'], HOME: process.env['HOME'], ...options.env },
    detached: options.viaNpm === true,
  });
  return { process: child, target: options.viaNpm ? -pid : pid, exited, output };
}

/** Ctrl-C, so the fleet stops what it started (which may outlive npm); SIGKILL if it does not stop. */
export async function stopFleetScript(fleet: FleetScript): Promise<void> {
  if (!sendSignal(fleet.target, 'SIGINT')) return;
  await waitUntil('the fleet to stop', () => !sendSignal(fleet.target, 0), 20_000).catch(() => sendSignal(fleet.target, 'SIGKILL'));
}

export function waitForFleetReady(fleet: FleetScript): Promise<true> {
  // `npm run fleet` builds first: on two busy cores that alone can take tens of seconds.
  return waitUntil('the fleet to be ready', () => fleet.output().includes('Herald fleet ready'), 45_000).catch((error: unknown) => {
    throw new Error(`${(error as Error).message}; the fleet printed:\n${fleet.output().slice(-3000)}`);
  });
}
