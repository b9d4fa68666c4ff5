import type { Redis } from 'ioredis';

const RUN_ID = /^run_id:([0-9a-f]+)\r?$/m;

/** A server run, and the connection it was read on (see `ServerRun.isCurrent`). */
export interface ConnectionRun {
  readonly run: string;
  readonly connection: number;
}

/**
 * The run id (`INFO server`) of the Redis server a connection is connected to. It changes
 * whenever that server restarts and differs on a replica promoted in its place: the scripts end
 * any history that began on another run (LUA_ENSURE_EPOCH), since that server may have lost
 * the history's last events and would number others the same.
 *
 * It is read once per connection: every reconnection may reach another server. Everything that
 * shares a connection (the gateway and the publisher SDK it runs) shares one ServerRun.
 */
export class ServerRun {
  private static readonly byConnection = new WeakMap<Redis, ServerRun>();
  private connection = 0;
  private reading: Promise<ConnectionRun> | undefined;
  private known: ConnectionRun | undefined;

  /** The ServerRun of this connection. */
  static of(redis: Redis): ServerRun {
    let run = ServerRun.byConnection.get(redis);
    if (!run) {
      run = new ServerRun(redis);
      ServerRun.byConnection.set(redis, run);
    }
    return run;
  }

  private constructor(private readonly redis: Redis) {
    redis.on('close', () => {
      this.connection += 1;
      this.reading = undefined;
      this.known = undefined;
    });
  }

  /** The run read on the current connection, when it has been read (no waiting, no promise). */
  knownNow(): ConnectionRun | undefined {
    return this.known;
  }

  /** The run of the server the connection is on now. Check `isCurrent` right before sending with it. */
  current(): Promise<ConnectionRun> {
    this.reading ??= this.read().catch((error: unknown) => {
      this.reading = undefined;
      throw error;
    });
    return this.reading;
  }

  /** Whether the connection is still the one `run` was read on. */
  isCurrent(run: ConnectionRun): boolean {
    return run.connection === this.connection;
  }

  private async read(): Promise<ConnectionRun> {
    const connection = this.connection;
    const info = await this.redis.info('server');
    const run = RUN_ID.exec(info)?.[1];
    if (run === undefined) throw new Error('Redis did not report its run_id (INFO server)');
    if (connection !== this.connection) throw new Error('the Redis connection changed while its run_id was read');
    this.known = { run, connection };
    return this.known;
  }
}
