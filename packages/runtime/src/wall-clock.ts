/**
 * This process's wall clock: what it writes into records people read (phase-since, Lease times,
 * Events) and what the reboot windows are evaluated against. No safety decision compares it
 * with a time another machine wrote; durations are measured on `performance.now()`.
 *
 * `BATON_TEST_CLOCK_OFFSET_MS` shifts it, for tests only: the e2e suite runs a controller and
 * agents on one machine and skews one of them to show that nothing depends on their agreement.
 */
export function wallClock(env: NodeJS.ProcessEnv = process.env): () => Date {
  const raw = env.BATON_TEST_CLOCK_OFFSET_MS;
  if (raw === undefined || raw === '') return () => new Date();
  if (!/^-?\d{1,9}$/.test(raw)) {
    throw new Error(
      `BATON_TEST_CLOCK_OFFSET_MS: invalid value ${JSON.stringify(raw)}: expected a whole number of milliseconds (tests only)`,
    );
  }
  const offset = Number(raw);
  return () => new Date(Date.now() + offset);
}
