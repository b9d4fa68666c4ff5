import { CloseCodes } from '@herald/protocol';
import { AuthFailures } from '../src/auth-failures.js';

describe('AuthFailures', () => {
  const refused = CloseCodes.UNAUTHORIZED.code;

  it('stops only after the limit of refusals in a row, once they span the retry window', () => {
    let now = 0;
    const failures = new AuthFailures({ limit: 3, windowMs: 60_000, canRenew: true, now: () => now });
    expect([failures.giveUpAfter(refused), failures.giveUpAfter(refused), failures.giveUpAfter(refused)]).toEqual([false, false, false]);
    now = 59_999;
    expect(failures.giveUpAfter(refused)).toBe(false);
    now = 60_000;
    expect(failures.giveUpAfter(refused)).toBe(true);
  });

  it('starts afresh after a welcome, window included', () => {
    let now = 0;
    const failures = new AuthFailures({ limit: 2, windowMs: 1000, canRenew: true, now: () => now });
    failures.giveUpAfter(refused);
    now = 5000;
    failures.reset();
    expect(failures.giveUpAfter(refused)).toBe(false);
    now = 5999;
    expect(failures.giveUpAfter(refused)).toBe(false);
    now = 6000;
    expect(failures.giveUpAfter(refused)).toBe(true);
  });

  it('stops at the first refusal when the token cannot be renewed, and never for closes that do not refuse the token', () => {
    const failures = new AuthFailures({ limit: 3, windowMs: 60_000, canRenew: false });
    expect(failures.giveUpAfter(1006)).toBe(false);
    expect(failures.giveUpAfter(CloseCodes.GOING_AWAY.code)).toBe(false);
    expect(failures.giveUpAfter(CloseCodes.TOKEN_EXPIRED.code)).toBe(true);
  });

  it('refuses a window that is not a non-negative integer', () => {
    for (const windowMs of [-1, 1.5, Number.NaN]) {
      expect(() => new AuthFailures({ limit: 3, windowMs, canRenew: true })).toThrow(/authRetryWindowMs must be a non-negative integer/);
    }
  });
});
