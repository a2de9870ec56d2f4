/**
 * The agent and the controller refuse every `BATON_` variable that names no option (a misspelt
 * setting must not be ignored). Variables of the development tooling — `./run`, CI, the e2e
 * harness, the benchmarks — reach them too, through the environment of the run that starts them:
 * CI's `BATON_REQUIRE_REAL_NODE` once made every agent and controller of the e2e suite exit at
 * start. So each `BATON_` variable the tooling reads or sets is either an option's or listed in
 * NON_OPTION_BATON_ENV.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  agentOptions,
  collectOptions,
  controllerOptions,
  envNames,
  NON_OPTION_BATON_ENV,
  type OptionTable,
} from '@baton/protocol/config';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
/** Names the docs generator writes as an example of the naming rule, not a variable anyone sets. */
const EXAMPLES = new Set(['BATON_SOME_FLAG']);

/** The variables a program's real option parser refuses as unknown in `env`. */
function refusedVariables(table: OptionTable, env: Record<string, string>): string[] {
  const { issues } = collectOptions(table, { argv: [], env });
  return issues.filter((issue) => issue.message.includes('unknown variable')).map((issue) => issue.source);
}

/** The tooling's files: everything tracked except the programs' own sources and the docs. */
function toolingFiles(): string[] {
  const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
  return tracked.filter(
    (path) =>
      path !== '' &&
      !path.startsWith('packages/') &&
      !path.startsWith('docs/') &&
      !path.startsWith('charts/') &&
      !path.endsWith('.test.ts') &&
      !path.endsWith('.json') &&
      !path.endsWith('.md'),
  );
}

/** `BATON_X` tokens written whole (not a prefix being built, as in `BATON_${name}`). */
function batonVariables(text: string): string[] {
  return [...text.matchAll(/\bBATON_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_$])/g)].map((m) => m[0]);
}

describe('BATON_ variables of the development tooling', () => {
  const optionNames = new Set([...agentOptions, ...controllerOptions].flatMap((def) => envNames(def)));

  it('are each an option of the agent or the controller, or listed as not an option', () => {
    const misses: string[] = [];
    for (const path of toolingFiles()) {
      for (const name of batonVariables(readFileSync(join(root, path), 'utf8'))) {
        if (!optionNames.has(name) && !NON_OPTION_BATON_ENV.includes(name) && !EXAMPLES.has(name))
          misses.push(`${name} in ${path}`);
      }
    }
    expect(misses).toEqual([]);
  });

  it('finds the variables the harness and CI use, so the check above can fail', () => {
    const found = new Set(
      toolingFiles().flatMap((path) => batonVariables(readFileSync(join(root, path), 'utf8'))),
    );
    for (const name of ['BATON_REQUIRE_REAL_NODE', 'BATON_TOOLS_CACHE', 'BATON_CLUSTERS_DIR']) {
      expect(found, name).toContain(name);
    }
    expect(batonVariables(['x=BATON_$', '{name} BATON_FOO_BAR=1 $BATON_BAZ'].join(''))).toEqual([
      'BATON_FOO_BAR',
      'BATON_BAZ',
    ]);
  });

  it('listed ones are accepted by both programs, and an unlisted one is still refused', () => {
    const env = Object.fromEntries(NON_OPTION_BATON_ENV.map((name) => [name, '1']));
    expect(refusedVariables(agentOptions, env)).toEqual([]);
    expect(refusedVariables(controllerOptions, env)).toEqual([]);
    expect(refusedVariables(agentOptions, { ...env, BATON_REQUIRE_REAL_NODES: '1' })).toEqual([
      'env BATON_REQUIRE_REAL_NODES',
    ]);
  });
});
