import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** A new client connection (the caller quits it). */
  client(): Redis;
  /** Kills the server process (SIGKILL); its data is gone, but for a snapshot taken with SAVE in `dir`. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** Sends a signal to the server process (SIGSTOP freezes it, SIGCONT resumes it). */
  signal(signal: NodeJS.Signals): void;
}

const INSTALL_HINT =
  'redis-server is required by this test and was not found on PATH. Install it ' +
  '(Debian/Ubuntu: apt-get install -y redis-server; .ci/run does this) and run the tests again.';

function assertRedisServerInstalled(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(INSTALL_HINT);
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    // On a connection that already ended (refused), disconnect() would leave a 2 s timer behind.
    if (client.status !== 'end') client.disconnect();
  }
}

export interface RedisServerOptions {
  readonly port?: number;
  /** Where SAVE writes its snapshot, which a restart then loads (default: nothing is ever loaded). */
  readonly dir?: string;
}

/** Starts a real, throwaway redis-server on a free port (or the given one). */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  assertRedisServerInstalled();
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let output = '';

  async function launch(): Promise<void> {
    output = '';
    const proc = spawn(
      'redis-server',
      [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
        ...(options.dir === undefined ? [] : ['--dir', options.dir]),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let exited = false;
    proc.once('exit', () => (exited = true));
    await waitUntil(`redis-server on port ${port} to answer PING`, async () => {
      if (exited) throw new Error(`redis-server exited during start:\n${output}`);
      return ping(port);
    });
  }

  async function stop(): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client: () => new Redis({ port, host: '127.0.0.1' }),
    stop,
    async restart() {
      await stop();
      await launch();
    },
    signal(signal) {
      child?.kill(signal);
    },
  };
}

/**
 * Starts one redis-server for the enclosing test file (or describe block) and stops it after.
 * Returns a getter: the server exists only once beforeAll has run.
 */
export function useRedisServer(): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the Redis server is not started yet (use it inside tests or hooks)');
    return server;
  };
}
