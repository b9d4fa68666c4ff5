import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A spawned process with everything it writes (stdout and stderr, in arrival order). */
export interface WatchedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (null if killed by a signal). */
  readonly exited: Promise<number | null>;
  output(): string;
}

/** Spawns `command` with its output piped and collected. */
export function spawnWatched(command: string, args: readonly string[], options: SpawnOptions = {}): WatchedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${command} did not start`);
  return { child, pid, exited, output: () => output };
}

/** Sends `name` to a pid (a negative one: its process group); 0 only asks whether it exists. False if there is none. */
export function sendSignal(target: number, name: NodeJS.Signals | 0): boolean {
  try {
    process.kill(target, name);
    return true;
  } catch {
    return false;
  }
}
