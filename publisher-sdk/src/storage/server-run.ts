import type { Redis } from 'ioredis';
import { WRONG_RUN_ERROR } from './lua.js';

const RUN_ID = /^run_id:([0-9a-f]+)\r?$/m;
const REPLICATION_ID = /^master_replid:([0-9a-f]+)\r?$/m;

/** Whether `error` is a script's answer that it ran on another server run than it was given (LUA_CHECK_RUN). */
export function isWrongRun(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith(`${WRONG_RUN_ERROR} `);
}

/** A server run, and the connection it was read on (see `ServerRun.isCurrent`). */
export interface ConnectionRun {
  readonly run: string;
  readonly connection: number;
}

/**
 * The server run (see LUA_CHECK_RUN: `run_id` and `master_replid`) of the Redis server a
 * connection is connected to. It changes whenever that server restarts, differs on a replica
 * promoted in its place, and changes on a server demoted and promoted again: the scripts end any
 * history that began on another run (LUA_ENSURE_EPOCH), since that server may have lost the
 * history's last events and would number others the same.
 *
 * It is read once per connection (every reconnection may reach another server), and again when a
 * script answers that it found another run (`forget`): a role can change under a connection that
 * stays. Everything that shares a connection (the gateway and the publisher SDK it runs) shares
 * one ServerRun.
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

  /** Forgets the run read on this connection (a script found another): the next `current()` reads it again. */
  forget(): void {
    this.reading = undefined;
    this.known = undefined;
  }

  private async read(): Promise<ConnectionRun> {
    const connection = this.connection;
    const [server, replication] = await Promise.all([this.redis.info('server'), this.redis.info('replication')]);
    const processRun = RUN_ID.exec(server)?.[1];
    const replicationId = REPLICATION_ID.exec(replication)?.[1];
    if (processRun === undefined || replicationId === undefined) {
      throw new Error('Redis did not report its run_id and master_replid (INFO server, INFO replication)');
    }
    // As LUA_CHECK_RUN reads it.
    const run = `${processRun}-${replicationId}`;
    if (connection !== this.connection) throw new Error('the Redis connection changed while its run_id was read');
    this.known = { run, connection };
    return this.known;
  }
}
