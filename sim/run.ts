/**
 * `pnpm run sim -- [options]`: explores schedules of the simulation and reports what it found.
 *
 *   --seeds N          schedules to run (default 1000)
 *   --minutes M        or: run for M minutes of wall time
 *   --seed S           fast-check seed (default: random, printed); with --path, replays a failure
 *   --path P           fast-check path of a failure to replay (printed with a failure)
 *   --scenario JSON    run exactly this scenario (printed with a failure) and print its story
 *   --kinds a,b        only these actions (e.g. delete-slot,kill-agent)
 *   --workers W        processes to spread the schedules over (default 1)
 *   --want INVARIANT   look for this violation only (the others count as passing)
 *   --cases            run the schedules found before the safety fixes (sim/cases.ts) and say how each ends
 *   --json FILE        also write the summary as JSON
 *   --progress N       print a line every N schedules (per worker)
 *
 * Exit code 0 when nothing was found, 1 on a violation (after printing the shrunk story).
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { FOUND_BEFORE_THE_FIXES } from './cases.ts';
import {
  checkScenario,
  describeFailure,
  type Scenario,
  ScenarioFailure,
  scenarioArbitrary,
} from './property.ts';
import { ACTION_KINDS, type ActionKind, runScenario } from './scenario.ts';

interface Options {
  seeds: number;
  minutes: number | undefined;
  seed: number;
  path: string | undefined;
  scenario: string | undefined;
  kinds: ActionKind[];
  workers: number;
  json: string | undefined;
  want: string | undefined;
  cases: boolean;
  /** Print a progress line every this many schedules (0: never). */
  progressEvery: number;
}

function parse(argv: readonly string[]): Options {
  const o: Options = {
    seeds: 1000,
    minutes: undefined,
    seed: Math.floor(Math.random() * 2 ** 31),
    path: undefined,
    scenario: undefined,
    kinds: [...ACTION_KINDS],
    workers: 1,
    json: undefined,
    want: undefined,
    cases: false,
    progressEvery: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const count = (name: string, v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`${name}: expected a whole number >= 1, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (flag) {
      case '--':
        break;
      case '--seeds':
        o.seeds = count('--seeds', value());
        break;
      case '--minutes':
        o.minutes = count('--minutes', value());
        break;
      case '--seed':
        o.seed = Number(value());
        break;
      case '--path':
        o.path = value();
        break;
      case '--scenario':
        o.scenario = value();
        break;
      case '--progress':
        o.progressEvery = count('--progress', value());
        break;
      case '--workers':
        o.workers = count('--workers', value());
        break;
      case '--json':
        o.json = value();
        break;
      case '--cases':
        o.cases = true;
        break;
      case '--want':
        o.want = value();
        break;
      case '--kinds': {
        const kinds = value().split(',');
        for (const k of kinds)
          if (!ACTION_KINDS.includes(k as ActionKind))
            throw new Error(
              `--kinds: unknown action ${JSON.stringify(k)}; known: ${ACTION_KINDS.join(', ')}`,
            );
        o.kinds = kinds as ActionKind[];
        break;
      }
      default:
        throw new Error(`unknown option ${JSON.stringify(flag)} (see the top of sim/run.ts)`);
    }
  }
  return o;
}

export interface Summary {
  schedules: number;
  steps: number;
  reboots: number;
  simulatedHours: number;
  wallSeconds: number;
  seed: number;
  kinds: string[];
  failure?: { message: string; story: string; seed: number; path: string } | undefined;
}

async function explore(o: Options, seed: number, numRuns: number): Promise<Summary> {
  const started = performance.now();
  let schedules = 0;
  let steps = 0;
  let reboots = 0;
  let simulatedMs = 0;
  let failing: { scenario: Scenario; message: string } | undefined;
  const details = await fc.check(
    fc.asyncProperty(scenarioArbitrary(o.kinds), async (s) => {
      const r = await checkScenario(s, o.want).catch((err: unknown) => {
        if (err instanceof ScenarioFailure && failing === undefined) {
          failing = { scenario: s, message: err.message };
          // Say it at once: shrinking, and the other workers, may take a long while yet.
          process.stderr.write(
            `[seed ${seed}] violation after ${schedules} schedules: ${err.message}; shrinking\n`,
          );
        }
        throw err;
      });
      schedules++;
      if (o.progressEvery > 0 && schedules % o.progressEvery === 0)
        process.stderr.write(
          `[seed ${seed}] ${schedules} schedules, ${Math.round((performance.now() - started) / 1000)} s\n`,
        );
      steps += r.steps;
      reboots += r.reboots;
      simulatedMs += r.simulatedMs;
    }),
    {
      seed,
      numRuns: o.minutes === undefined ? numRuns : Number.MAX_SAFE_INTEGER,
      interruptAfterTimeLimit: o.minutes === undefined ? undefined : o.minutes * 60_000,
      markInterruptAsFailure: false,
      ...(o.path === undefined ? {} : { path: o.path }),
    },
  );
  const summary: Summary = {
    schedules,
    steps,
    reboots,
    simulatedHours: Math.round(simulatedMs / 36_000) / 100,
    wallSeconds: Math.round((performance.now() - started) / 100) / 10,
    seed,
    kinds: o.kinds,
  };
  if (details.failed && details.counterexample) {
    const shrunk = details.counterexample[0] as Scenario;
    const result = await runScenario(shrunk.config, shrunk.actions);
    summary.failure = {
      message: result.violation?.message ?? failing?.message ?? String(details.errorInstance),
      story: describeFailure(shrunk, result),
      seed: details.seed,
      path: details.counterexamplePath ?? '',
    };
  }
  return summary;
}

function report(s: Summary): void {
  process.stdout.write(
    `explored ${s.schedules} schedules (${s.steps} steps, ${s.reboots} reboots, ${s.simulatedHours} simulated hours) in ${s.wallSeconds} s; seed ${s.seed}\n`,
  );
  if (s.failure) {
    process.stdout.write(`\nFOUND: ${s.failure.message}\n${s.failure.story}\n`);
    process.stdout.write(
      `replay: pnpm run sim -- --seed ${s.failure.seed} --path '${s.failure.path}' --seeds 1\n`,
    );
  }
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.cases) {
    let broken = 0;
    for (const c of FOUND_BEFORE_THE_FIXES) {
      const r = await runScenario(c.scenario.config, c.scenario.actions);
      if (r.violation) broken++;
      process.stdout.write(
        `point ${c.point}: ${c.title}\n  before the fixes: ${c.before}\n  now: ${r.violation?.message ?? `no violation (${r.reboots} reboots, ${r.steps} steps)`}\n`,
      );
    }
    process.exitCode = broken > 0 ? 1 : 0;
    return;
  }
  if (o.scenario !== undefined) {
    const s = JSON.parse(o.scenario) as Scenario;
    const r = await runScenario(s.config, s.actions);
    process.stdout.write(`${describeFailure(s, r, 400)}\n`);
    process.exitCode = r.violation ? 1 : 0;
    return;
  }
  if (process.env.BATON_SIM_WORKER === '1') {
    const summary = await explore(o, o.seed, o.seeds);
    process.send?.(summary);
    return;
  }
  let summaries: Summary[];
  if (o.workers === 1) {
    summaries = [await explore(o, o.seed, o.seeds)];
  } else {
    const per = Math.ceil(o.seeds / o.workers);
    summaries = await Promise.all(
      Array.from({ length: o.workers }, (_, w) => {
        const args = [
          ...process.argv
            .slice(2)
            .filter(
              (a, i, all) =>
                !['--workers', '--seed'].includes(a) && !['--workers', '--seed'].includes(all[i - 1] ?? ''),
            ),
          '--seed',
          String((o.seed + w * 7_919) % 2 ** 31),
          '--seeds',
          String(per),
        ];
        const child = fork(new URL(import.meta.url).pathname, args, {
          env: { ...process.env, BATON_SIM_WORKER: '1' },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
        return new Promise<Summary>((resolve, reject) => {
          child.once('message', (m) => resolve(m as Summary));
          child.once('exit', (code) => reject(new Error(`worker ${w} exited with ${code} before reporting`)));
        });
      }),
    );
  }
  for (const s of summaries) report(s);
  const total = {
    schedules: summaries.reduce((n, s) => n + s.schedules, 0),
    steps: summaries.reduce((n, s) => n + s.steps, 0),
    reboots: summaries.reduce((n, s) => n + s.reboots, 0),
    simulatedHours: Math.round(summaries.reduce((n, s) => n + s.simulatedHours, 0) * 100) / 100,
    wallSeconds: Math.max(...summaries.map((s) => s.wallSeconds)),
    failures: summaries.flatMap((s) => (s.failure ? [s.failure] : [])),
    runs: summaries,
  };
  if (summaries.length > 1)
    process.stdout.write(
      `in all: ${total.schedules} schedules, ${total.reboots} reboots, ${total.failures.length} failure(s)\n`,
    );
  if (o.json !== undefined) writeFileSync(o.json, `${JSON.stringify(total, null, 2)}\n`);
  process.exitCode = total.failures.length > 0 ? 1 : 0;
}

await main();
