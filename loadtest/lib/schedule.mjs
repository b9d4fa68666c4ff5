// Open-loop publishing: each event has the time it is due, fixed in advance, and is sent then
// (or as soon after as the process can), whatever happened to the ones before. Latency counted
// from the due time cannot hide a sender that fell behind (no coordinated omission).
import { performance } from 'node:perf_hooks';

const now = () => performance.timeOrigin + performance.now();

/**
 * Calls `send(dueAt)` `count` times at `rate` per second from `startAt` (ms since the epoch),
 * all at `startAt` when rate is 0; resolves once the last one was sent.
 */
export function sendOnSchedule({ rate, count, startAt }, send) {
  return new Promise((resolve) => {
    let done = 0;
    const step = () => {
      const due = rate === 0 ? count : Math.min(count, Math.floor(((now() - startAt) * rate) / 1000) + 1);
      for (; done < due; done++) send(rate === 0 ? startAt : startAt + (done * 1000) / rate);
      if (done >= count) resolve();
      else setTimeout(step, 1);
    };
    setTimeout(step, Math.max(0, startAt - now()));
  });
}
