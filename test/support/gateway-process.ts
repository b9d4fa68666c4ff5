import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { spawnWatched, type WatchedProcess } from './child-process.js';
import { GATEWAY_ENTRY } from './paths.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

export interface GatewayProcess {
  readonly nodeId: string;
  readonly port: number;
  readonly httpUrl: string;
  readonly wsUrl: string;
  /** The admin port's base URL: /metrics, /healthz, /readyz. */
  readonly adminUrl: string;
  readonly process: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` and resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ProcessResult {
  readonly code: number | null;
  readonly output: string;
}

function assertBuilt(): void {
  if (!existsSync(GATEWAY_ENTRY)) {
    throw new Error(`${GATEWAY_ENTRY} is missing: run "npm run build" first (npm test does).`);
  }
}

/** Test runs connect far faster than real clients: per-address upgrade limits would get in the way. */
export const GENEROUS_LIMITS = { UPGRADE_RATE_PER_IP: '100000', UPGRADE_BURST_PER_IP: '100000' } as const;

function baseEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DRAIN_DELAY_MS: '0',
    DRAIN_SPREAD_MS: '0',
    ...GENEROUS_LIMITS,
    ...env,
  };
}

export interface StartOptions {
  /** Wait for /readyz (default: the node serves sockets) or only /healthz (the process is up). */
  readonly waitFor?: 'readyz' | 'healthz';
}

/** Spawns the built gateway entry point, collecting everything it writes. */
function spawnGateway(env: Record<string, string>): WatchedProcess {
  assertBuilt();
  return spawnWatched(process.execPath, [GATEWAY_ENTRY], { env: baseEnvironment(env) });
}

/** Runs the built gateway entry point and waits until it answers 200 on /readyz (or /healthz). */
export async function startGatewayProcess(env: Record<string, string>, options: StartOptions = {}): Promise<GatewayProcess> {
  const port = env['PORT'] ? Number(env['PORT']) : await freePort();
  let adminPort = env['ADMIN_PORT'] ? Number(env['ADMIN_PORT']) : await freePort();
  // A port just released may be handed out again at once: the two must differ.
  while (adminPort === port && !env['ADMIN_PORT']) adminPort = await freePort();
  const nodeId = env['NODE_ID'] ?? `node-${port}`;
  const { child, output, exited } = spawnGateway({ ...env, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ID: nodeId });
  const httpUrl = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const probe = options.waitFor ?? 'readyz';
  await waitUntil(`gateway ${nodeId} to answer /${probe}`, async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${output()}`);
    const response = await fetch(`${adminUrl}/${probe}`).catch(() => undefined);
    return response?.status === 200;
  }, 15_000);
  return {
    nodeId,
    port,
    httpUrl,
    adminUrl,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    process: child,
    output,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the gateway entry point to completion (for start-up failures). */
export function runGatewayToExit(env: Record<string, string>, timeoutMs = 10_000): Promise<ProcessResult> {
  const { child, output, exited } = spawnGateway(env);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not exit within ${timeoutMs} ms:\n${output()}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      resolve({ code, output: output() });
    });
  });
}

/** The error lines a gateway logged (pino levels 50 and 60). */
export function loggedErrors(node: GatewayProcess): string[] {
  return node
    .output()
    .split('\n')
    .filter((line) => /"level":(50|60)\b/.test(line));
}

/**
 * Prints the error lines the gateways logged, for tests in which no error is expected: a failure
 * then shows what the gateway saw.
 */
export function printGatewayErrors(nodes: readonly GatewayProcess[]): void {
  for (const node of nodes) {
    const errors = loggedErrors(node);
    if (errors.length > 0) console.error(`gateway ${node.nodeId} logged errors:\n${errors.slice(-20).join('\n')}`);
  }
}
