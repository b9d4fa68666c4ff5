import { pino } from 'pino';
import { FAILURE_SUMMARY_MS, FailureLog } from '../src/broker/failure-log.js';
import { failureReason } from '@herald/publisher-sdk/storage';
import { clusterTarget, redisUrlTarget } from '../src/broker/redis-target.js';

interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A FailureLog writing to an array, on a clock the test moves. */
function capture(target = redisUrlTarget('redis://127.0.0.1:1')) {
  const lines: LogLine[] = [];
  const clock = { now: 1_000_000 };
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const log = new FailureLog({ logger, target, meanwhile: 'retrying, not ready', now: () => clock.now });
  return { lines, clock, log };
}

function refused(port: number): Error {
  return Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 });
}

describe('FailureLog', () => {
  it('logs the first failure of a streak in one line naming the variable and the address, without a stack trace', () => {
    const { lines, log } = capture();
    log.failed(refused(1));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'cannot reach Redis at 127.0.0.1:1 (REDIS_URL): connect ECONNREFUSED; retrying, not ready',
        redis: '127.0.0.1:1',
        variable: 'REDIS_URL',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('stack');
  });

  it('sums up the failures that follow at most once per 30 s, and logs the recovery once', () => {
    const { lines, clock, log } = capture();
    log.failed(refused(1));
    for (let i = 0; i < 40; i++) {
      clock.now += 500;
      log.failed(refused(1));
    }
    expect(lines).toHaveLength(1);
    clock.now += FAILURE_SUMMARY_MS - 40 * 500;
    log.failed(refused(1));
    expect(lines.map((line) => line.msg)).toEqual([
      'cannot reach Redis at 127.0.0.1:1 (REDIS_URL): connect ECONNREFUSED; retrying, not ready',
      'still cannot reach Redis at 127.0.0.1:1 (REDIS_URL) (41 failures in the last 30 s, the last: connect ECONNREFUSED); retrying, not ready',
    ]);
    clock.now += 4000;
    log.recovered();
    log.recovered();
    expect(lines.slice(2).map((line) => line.msg)).toEqual(['reached Redis at 127.0.0.1:1 (REDIS_URL) again after 34 s (42 failed attempts)']);
  });

  it('starts a new streak after a recovery, or after 30 s without a failure', () => {
    const { lines, clock, log } = capture();
    log.recovered();
    expect(lines).toEqual([]);
    log.failed(refused(1));
    log.recovered();
    log.failed(refused(1));
    clock.now += FAILURE_SUMMARY_MS + 1;
    log.failed(refused(1));
    expect(lines.map((line) => line.msg.split(':')[0])).toEqual([
      'cannot reach Redis at 127.0.0.1',
      'reached Redis at 127.0.0.1',
      'cannot reach Redis at 127.0.0.1',
      'cannot reach Redis at 127.0.0.1',
    ]);
  });
});

describe('Redis targets', () => {
  it('show the address of a REDIS_URL, never its credentials', () => {
    const target = redisUrlTarget('redis://herald:s3cret-pw@redis.internal:6380/2?password=other-secret');
    expect(target).toEqual({ variable: 'REDIS_URL', address: 'redis.internal:6380', label: 'Redis at redis.internal:6380 (REDIS_URL)' });
    expect(redisUrlTarget('rediss://:pw@[::1]').label).toBe('Redis at [::1]:6379 (REDIS_URL)');
  });

  it('show the nodes of REDIS_CLUSTER_NODES', () => {
    expect(clusterTarget([{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }]).label).toBe(
      'Redis Cluster at 10.0.0.1:7000,[::1]:7001 (REDIS_CLUSTER_NODES)',
    );
  });

  it('give the reason of a failure in a few words', () => {
    expect(failureReason(refused(1))).toBe('connect ECONNREFUSED');
    const allFailed = Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: new Error('Connection is closed.') });
    expect(failureReason(allFailed)).toBe('Failed to refresh slots cache: Connection is closed');
  });
});
