import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { ConnectionErrors, ERROR_REPORT_INTERVAL_MS } from '../src/connection-errors.js';
import type { HeraldConnectionError } from '../src/errors.js';

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' });
}

/** ConnectionErrors watching an emitter that stands in for an ioredis client, on a clock the test moves. */
function watched(onError: (error: HeraldConnectionError) => void) {
  const clock = { now: 0 };
  const errors = new ConnectionErrors(onError, () => clock.now);
  const client = new EventEmitter();
  errors.watch(client as unknown as Redis, () => 'Redis at 127.0.0.1:1');
  return { clock, errors, client };
}

describe('ConnectionErrors', () => {
  it('reports the first failure of an outage at once, then at most once every 30 s with the count since', () => {
    const reports: HeraldConnectionError[] = [];
    const { clock, errors, client } = watched((error) => reports.push(error));
    for (let i = 0; i < 100; i++) {
      client.emit('error', refused());
      clock.now += 400;
    }
    expect(reports.map((error) => [error.message, error.failures])).toEqual([
      ['cannot reach Redis at 127.0.0.1:1: connect ECONNREFUSED', 1],
      ['cannot reach Redis at 127.0.0.1:1: connect ECONNREFUSED', ERROR_REPORT_INTERVAL_MS / 400],
    ]);
    expect(errors.lastReason).toBe('connect ECONNREFUSED');
    client.emit('ready');
    expect(errors.lastReason).toBeUndefined();
    client.emit('error', refused());
    expect(reports.map((error) => error.failures)).toEqual([1, ERROR_REPORT_INTERVAL_MS / 400, 1]);
  });

  it('keeps an error event handled, and the emitter working, when the callback throws', () => {
    const { client } = watched(() => {
      throw new Error('a bug in the host');
    });
    expect(() => client.emit('error', refused())).not.toThrow();
  });
});
