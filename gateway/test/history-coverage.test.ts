import { parseEventId } from '@herald/protocol';
import { historyCoversSince, isAfterHistory } from '../src/hub/history-coverage.js';

describe('history coverage', () => {
  const id = (text: string) => parseEventId(text) as NonNullable<ReturnType<typeof parseEventId>>;
  const history = (epoch: number, count: number, oldest?: string) => ({ epoch, count, oldest: oldest ? id(oldest) : undefined });

  it('covers a since whose successor is still held, in the same history', () => {
    expect(historyCoversSince(id('100-5'), history(100, 9, '100-6'))).toBe(true);
    expect(historyCoversSince(id('100-7'), history(100, 9, '100-6'))).toBe(true);
  });

  it('covers a since at the end of a history whose events expired but whose position is kept', () => {
    expect(historyCoversSince(id('100-9'), history(100, 9))).toBe(true);
    expect(historyCoversSince(id('100-8'), history(100, 9))).toBe(false);
  });

  it('covers the start of a history that has no events yet, or none after since', () => {
    expect(historyCoversSince(id('100-0'), history(100, 0))).toBe(true);
    expect(historyCoversSince(id('100-9'), history(100, 9, '100-6'))).toBe(true);
    expect(historyCoversSince(id('100-0'), history(100, 3, '100-1'))).toBe(true);
  });

  it('does not cover a since whose successors were trimmed', () => {
    expect(historyCoversSince(id('100-4'), history(100, 9, '100-6'))).toBe(false);
  });

  it('does not cover a since from an earlier history (expired or lost), or when there is none', () => {
    expect(historyCoversSince(id('90-50'), history(100, 9, '100-1'))).toBe(false);
    expect(historyCoversSince(id('90-0'), history(100, 0))).toBe(false);
    expect(historyCoversSince(id('90-50'), undefined)).toBe(false);
  });

  it('covers a since of the current history while an older one is still being trimmed away', () => {
    expect(historyCoversSince(id('100-2'), history(100, 9, '90-40'))).toBe(true);
  });

  it('tells a since beyond what the history numbered', () => {
    expect(isAfterHistory(id('100-10'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('110-0'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('100-9'), history(100, 9))).toBe(false);
    expect(isAfterHistory(id('90-99'), history(100, 9))).toBe(false);
  });
});
