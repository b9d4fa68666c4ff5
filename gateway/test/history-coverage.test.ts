import { parseEventId } from '@herald/protocol';
import { gapConcerns, isAfterHistory } from '../src/hub/history-coverage.js';

describe('history coverage', () => {
  const id = (text: string) => parseEventId(text) as NonNullable<ReturnType<typeof parseEventId>>;
  const history = (epoch: number, count: number, oldest?: string) => ({ epoch, count, oldest: oldest ? id(oldest) : undefined });

  it('tells a gap before an event concerns only readers that lack an event before it', () => {
    expect(gapConcerns(id('100-4'), id('100-6'), history(100, 9, '100-6'))).toBe(true);
    expect(gapConcerns(id('100-5'), id('100-6'), history(100, 9, '100-6'))).toBe(false);
    expect(gapConcerns(id('100-7'), id('100-6'), history(100, 9, '100-6'))).toBe(false);
  });

  it('tells a gap at the end concerns readers short of the last event numbered', () => {
    expect(gapConcerns(id('100-8'), undefined, history(100, 9))).toBe(true);
    expect(gapConcerns(id('100-9'), undefined, history(100, 9))).toBe(false);
  });

  it('tells a gap before a new epoch concerns every reader of an older one', () => {
    expect(gapConcerns(id('90-50'), id('100-1'), history(100, 9, '100-1'))).toBe(true);
    expect(gapConcerns(id('90-50'), undefined, history(100, 0))).toBe(true);
    expect(gapConcerns(id('100-0'), id('100-1'), history(100, 9, '100-1'))).toBe(false);
  });

  it('tells a since beyond anything the history numbered', () => {
    expect(isAfterHistory(id('100-10'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('110-0'), history(100, 9))).toBe(true);
    expect(isAfterHistory(id('100-9'), history(100, 9))).toBe(false);
    expect(isAfterHistory(id('90-99'), history(100, 9))).toBe(false);
  });
});
