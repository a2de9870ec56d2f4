/**
 * The simulation as a property: for every scenario fast-check generates (a fleet, settings and a
 * schedule of faults and hand edits), no invariant is ever broken. fast-check shrinks a failing
 * scenario to the fewest, smallest actions that still fail, and prints the seed and path that
 * replay it; {@link describeFailure} turns the shrunk scenario and its run into a short story.
 */
import fc from 'fast-check';
import {
  ACTION_KINDS,
  type Action,
  type RunResult,
  runScenario,
  type ScenarioConfig,
  SIM_TIMINGS,
} from './scenario.ts';
import { formatTime } from './world.ts';

export interface Scenario {
  readonly config: ScenarioConfig;
  readonly actions: readonly Action[];
}

/** Which faults and edits a run draws from (all by default). */
export function scenarioArbitrary(
  kinds: readonly (typeof ACTION_KINDS)[number][] = ACTION_KINDS,
): fc.Arbitrary<Scenario> {
  const action = fc.record({
    at: fc.integer({ min: 0, max: SIM_TIMINGS.activeMs }),
    kind: fc.constantFrom(...kinds),
    target: fc.nat({ max: 7 }),
    arg: fc.nat({ max: 4_000_000 }),
  });
  return fc
    .record({
      config: fc.record({
        seed: fc.nat({ max: 2 ** 31 - 1 }),
        nodes: fc.integer({ min: 2, max: 4 }),
        concurrency: fc.integer({ min: 1, max: 2 }),
        replicas: fc.integer({ min: 1, max: 2 }),
        maxRebootAttempts: fc.integer({ min: 1, max: 3 }),
        settleMs: fc.constantFrom(0, 20_000, 60_000),
        needing: fc.integer({ min: 1, max: 4 }),
      }),
      actions: fc.array(action, { maxLength: 12 }),
    })
    .map(({ config, actions }) => ({ config, actions: [...actions].sort((a, b) => a.at - b.at) }));
}

export class ScenarioFailure extends Error {
  readonly result: RunResult;
  constructor(result: RunResult) {
    super(result.violation?.message ?? 'violation');
    this.result = result;
  }
}

/**
 * Runs one scenario; throws a {@link ScenarioFailure} when an invariant broke (only `want`, if
 * given: to search for one kind of violation, the others count as passing).
 */
export async function checkScenario(s: Scenario, want?: string): Promise<RunResult> {
  const result = await runScenario(s.config, s.actions);
  if (result.violation && (want === undefined || result.violation.invariant === want))
    throw new ScenarioFailure(result);
  return result;
}

/** The shrunk scenario and the end of its run, for people. */
export function describeFailure(s: Scenario, result: RunResult, traceLines = 60): string {
  const c = s.config;
  const lines = [
    `violation: ${result.violation?.message ?? '(none)'}`,
    `fleet: ${c.nodes} nodes (${c.needing} needing a reboot at the start), concurrency ${c.concurrency}, ${c.replicas} controller replica(s), --max-reboot-attempts=${c.maxRebootAttempts}, --settle-time=${c.settleMs / 1000}s, world seed ${c.seed}`,
    'what happened to it:',
    ...(s.actions.length === 0
      ? ['  (nothing: the plain rollout)']
      : s.actions.map((a) => `  ${formatTime(a.at)} ${a.kind} target=${a.target} arg=${a.arg}`)),
    `the run (last ${traceLines} of ${result.steps} steps' records):`,
    ...result.trace.slice(-traceLines).map((l) => `  ${l}`),
    `replay: the scenario as JSON (pnpm run sim -- --scenario '<json>'):`,
    `  ${JSON.stringify(s)}`,
  ];
  return lines.join('\n');
}
