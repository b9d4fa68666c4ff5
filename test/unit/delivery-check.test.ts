import type { GapFrame } from '@herald/protocol';
import { arrivalProblems, type Arrival } from '../support/delivery-check.js';

const event = (id: string, userId = 'u', n?: number): Arrival => ({ kind: 'event', id, userId, n });
const gap = (since: string, oldest: string | null): Arrival => ({ kind: 'gap', gap: { type: 'herald.gap', since, oldest } satisfies GapFrame });
const published = ['1-1', '1-2', '1-3', '1-4', '1-5'];

describe('the delivery checker used by the fault tests', () => {
  it('accepts every event after the start, once and in order', () => {
    expect(arrivalProblems('u', '1-0', published.map((id) => event(id)), published)).toEqual([]);
    expect(arrivalProblems('u', '1-2', ['1-3', '1-4', '1-5'].map((id) => event(id)), published)).toEqual([]);
  });

  it('accepts a hole that a herald.gap announced right before it', () => {
    expect(arrivalProblems('u', '1-0', [event('1-1'), gap('1-1', '1-4'), event('1-4'), event('1-5')], published)).toEqual([]);
  });

  it('fails a hole after a gap that the gap does not cover', () => {
    const problems = arrivalProblems('u', '1-0', [event('1-1'), gap('1-1', '1-3'), event('1-3'), event('1-5')], published);
    expect(problems).toEqual(['u: 1 events missing before 1-5 without a gap notice (first 1-4)']);
  });

  it('fails a gap notice that came too late to cover the hole', () => {
    const problems = arrivalProblems('u', '1-0', [event('1-1'), event('1-4'), gap('1-1', '1-4'), event('1-5')], published);
    expect(problems).toHaveLength(1);
  });

  it('fails an id that was never published, another user’s event, duplicates and reordering', () => {
    expect(arrivalProblems('u', '1-0', [...published.map((id) => event(id)), event('1-9')], published)).toContain(
      'u: received 1-9, which was never published for this user',
    );
    expect(arrivalProblems('u', '1-0', published.map((id, i) => event(id, i === 2 ? 'v' : 'u')), published)).toContain(
      'u: received an event of "v"',
    );
    expect(arrivalProblems('u', '1-0', [event('1-1'), event('1-1'), ...published.slice(1).map((id) => event(id))], published).length).toBeGreaterThan(0);
    expect(arrivalProblems('u', '1-0', [event('1-2'), event('1-1'), ...published.slice(2).map((id) => event(id))], published).length).toBeGreaterThan(0);
  });

  it('fails events that never arrived at the end, and tolerates only copies of uncertain publishes', () => {
    expect(arrivalProblems('u', '1-0', published.slice(0, 3).map((id) => event(id)), published)).toEqual([
      'u: the last 2 of 5 events never arrived (first 1-4)',
    ]);
    expect(arrivalProblems('u', '1-0', [event('0-7', 'u', 3), ...published.map((id) => event(id))], published, new Set([3]))).toEqual([]);
  });
});
