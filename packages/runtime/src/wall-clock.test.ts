import { describe, expect, it } from 'vitest';
import { wallClock } from './wall-clock.ts';

describe('wallClock', () => {
  it('is the real clock without the tests’ offset, shifted by it with one', () => {
    const before = Date.now();
    const real = wallClock({})().getTime();
    expect(real).toBeGreaterThanOrEqual(before);
    expect(real - before).toBeLessThan(1000);
    const ahead = wallClock({ BATON_TEST_CLOCK_OFFSET_MS: '600000' })().getTime();
    expect(ahead - Date.now()).toBeGreaterThan(599_000);
    const behind = wallClock({ BATON_TEST_CLOCK_OFFSET_MS: '-600000' })().getTime();
    expect(Date.now() - behind).toBeGreaterThan(599_000);
  });

  it('refuses an offset that is not a whole number of milliseconds, naming the variable', () => {
    for (const bad of ['abc', '1.5', '1e3', '9999999999']) {
      expect(() => wallClock({ BATON_TEST_CLOCK_OFFSET_MS: bad })).toThrow(
        /BATON_TEST_CLOCK_OFFSET_MS: invalid value/,
      );
    }
  });
});
