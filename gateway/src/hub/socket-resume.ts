import type { Logger } from 'pino';
import {
  CloseCodes,
  encodeControlFrame,
  errorFrame,
  formatEventId,
  parseEventId,
  resumedFrame,
  type ServerControlFrame,
} from '@herald/protocol';
import type { HistoryReader, PageLimit } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import type { FanOut } from './fan-out.js';
import { FailureStreak, type RetrySettings } from './failure-streak.js';
import { gapFrameBefore, replayHistory, type ReplayOutcome } from './history-replay.js';
import type { Member } from './member.js';
import type { ReadBudget } from './read-budget.js';

function send(member: Member, frame: ServerControlFrame): void {
  if (!member.detached) member.outlet.send(encodeControlFrame(frame));
}

/**
 * One socket's resume: its user's history after `since` (with `herald.gap` first if history
 * cannot vouch for all of it), then the live events that arrived meanwhile, then
 * `herald.resumed`. The socket holds live events back until then.
 *
 * History goes out a page at a time, the next page only once the socket has taken in the last
 * (its send buffer is below a page): a client far behind catches up in one connection without
 * ever nearing the slow-consumer limit. Live events held meanwhile are bounded; past the bound
 * they are dropped and history is read again up to them (they are all in it).
 */
export class SocketResume {
  constructor(
    private readonly history: HistoryReader,
    private readonly fanOut: FanOut,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly reads: { readonly page: PageLimit; readonly budget: ReadBudget; readonly retry: RetrySettings },
  ) {}

  async resume(member: Member, since: string): Promise<void> {
    const start = parseEventId(since);
    if (!start) throw new Error(`resume needs an event id, got ${JSON.stringify(since)}`);
    member.beginResume(start);
    let gap = false;
    let replayed = 0;
    const { page, budget, retry } = this.reads;
    const source = { history: this.history, budget, limit: page, userId: member.userId };
    const failures = new FailureStreak(retry);
    for (;;) {
      // After a failed read or dropped live events, go on from where the socket stands.
      const from = formatEventId(member.position() ?? start);
      let outcome: ReplayOutcome;
      try {
        outcome = await replayHistory(source, from, {
          gap: (at, next) => {
            gap = true;
            this.metrics.gapsSignalled.labels('resume').inc();
            send(member, gapFrameBefore(at, next));
          },
          event: (payload, id) => {
            replayed += 1;
            if (!member.detached) this.fanOut.count(member.sendIfNew(payload, id));
          },
          proceed: () => !member.detached,
          readyForMore: () => member.outlet.whenBufferedBelow(page.bytes),
        });
      } catch (error) {
        if (member.detached) return;
        const delay = failures.failed();
        if (failures.began) this.logger.warn({ err: error }, 'reading history for a resume failed; retrying');
        if (failures.lastedTooLong()) {
          this.metrics.resumes.labels('failed').inc();
          this.logger.error({ err: error }, 'history stayed unreadable; asking a resuming client to resync');
          member.outlet.close(CloseCodes.RESYNC.code, 'history unavailable; reconnect and resume');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        continue;
      }
      failures.succeeded();
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'invalid') {
        this.metrics.resumes.labels('invalid_since').inc();
        send(member, errorFrame('invalid_since', `since ${since} names a time implausibly far ahead`));
        member.cancelResume();
        return;
      }
      if (!member.takeHeldOverflow()) break;
      await member.outlet.whenBufferedBelow(page.bytes);
    }
    if (member.detached) return;
    this.metrics.resumes.labels(gap ? 'gap' : 'resumed').inc();
    this.metrics.backfilledEvents.labels('resume').inc(replayed);
    member.finishResume();
    send(member, resumedFrame(since, replayed));
  }
}
