import type { Logger } from 'pino';
import { CloseCodes, encodeControlFrame, errorFrame, parseEventId, resumedFrame, type ServerControlFrame } from '@herald/protocol';
import type { HistoryReader } from '../broker/broker.js';
import type { GatewayMetrics } from '../metrics.js';
import type { FanOut } from './fan-out.js';
import { gapFrameBefore, replayHistory } from './history-replay.js';
import type { Member } from './member.js';

function send(member: Member, frame: ServerControlFrame): void {
  if (!member.detached) member.outlet.send(encodeControlFrame(frame));
}

/**
 * One socket's resume: its user's history after `since` (with `herald.gap` first if history
 * cannot vouch for all of it), then the live events that arrived meanwhile, then
 * `herald.resumed`. The socket holds live events back until then.
 */
export class SocketResume {
  constructor(
    private readonly history: HistoryReader,
    private readonly fanOut: FanOut,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly pageSize: number,
  ) {}

  async resume(member: Member, since: string): Promise<void> {
    const start = parseEventId(since);
    if (!start) throw new Error(`resume needs an event id, got ${JSON.stringify(since)}`);
    member.beginResume(start);
    let gap = false;
    try {
      const outcome = await replayHistory(this.history, member.userId, since, this.pageSize, {
        gap: (at, next) => {
          gap = true;
          this.metrics.gapsSignalled.labels('resume').inc();
          send(member, gapFrameBefore(at, next));
        },
        event: (payload, id) => {
          if (!member.detached) this.fanOut.count(member.sendIfNew(payload, id));
        },
        proceed: () => !member.detached,
      });
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'invalid') {
        this.metrics.resumes.labels('invalid_since').inc();
        send(member, errorFrame('invalid_since', `since ${since} names a time implausibly far ahead`));
        member.cancelResume();
        return;
      }
      this.metrics.resumes.labels(gap ? 'gap' : 'resumed').inc();
      this.metrics.backfilledEvents.labels('resume').inc(outcome.replayed);
      member.finishResume();
      send(member, resumedFrame(since, outcome.replayed));
    } catch (error) {
      this.metrics.resumes.labels('failed').inc();
      this.logger.warn({ err: error }, 'resume failed; asking the client to resync');
      if (!member.detached) member.outlet.close(CloseCodes.RESYNC.code, 'history unavailable; reconnect and resume');
    }
  }
}
