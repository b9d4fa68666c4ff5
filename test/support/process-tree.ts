import { readFileSync, readdirSync } from 'node:fs';

/** One process, told apart by its start time from a later one given the same pid. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startedAt: string;
  /** Its command line when it was seen, for failure messages. */
  readonly command: string;
}

interface Stat {
  readonly state: string;
  readonly ppid: number;
  readonly startedAt: string;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; the fields after it follow the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', ppid: Number(fields[1]), startedAt: fields[19] ?? '' };
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** `pid` and every process below it, as /proc shows them now. */
export function processTree(pid: number): ProcessIdentity[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat === undefined) continue;
    parents.set(stat.ppid, [...(parents.get(stat.ppid) ?? []), Number(name)]);
  }
  const found: ProcessIdentity[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const next = pending.pop() as number;
    const stat = readStat(next);
    if (stat === undefined || stat.state === 'Z') continue;
    found.push({ pid: next, startedAt: stat.startedAt, command: commandLine(next) });
    pending.push(...(parents.get(next) ?? []));
  }
  return found;
}

/** Whether that very process still runs (a zombie has finished running). */
export function isRunning(process: ProcessIdentity): boolean {
  const stat = readStat(process.pid);
  return stat !== undefined && stat.startedAt === process.startedAt && stat.state !== 'Z';
}

/** Those of `processes` that still run, as "pid command" for a readable failure. */
export function stillRunning(processes: readonly ProcessIdentity[]): string[] {
  return processes.filter(isRunning).map(({ pid, command }) => `${pid} ${command}`);
}

/** SIGKILLs those of `processes` that still run (cleanup after a failed test). */
export function killAll(processes: readonly ProcessIdentity[]): void {
  for (const each of processes) {
    if (!isRunning(each)) continue;
    try {
      process.kill(each.pid, 'SIGKILL');
    } catch {
      // it exited meanwhile
    }
  }
}
