/**
 * A table-driven command-line and environment parser.
 *
 * Each process declares its options once ({@link defineOptions}); from that table come the
 * parser, the TypeScript type of the result ({@link OptionValues}) and the rows of the
 * configuration reference ({@link describeOptions}), so the three cannot drift apart.
 *
 * Where a value comes from, first match wins:
 *   1. the command line: `--name=value`, `--name value`, `--flag` (booleans: true), `--flag=false`;
 *   2. the environment: `BATON_<NAME_UPPER_SNAKE>`, then the option's extra names in order
 *      (`NODE_NAME`, …), then kured's `KURED_<KURED_FLAG>` for an option that has kured's
 *      meaning; an empty variable counts as unset, because Kubernetes manifests and templates
 *      routinely render empty values;
 *   3. the option's default.
 * kured did the opposite (environment over flags, applied after parsing); baton follows the
 * usual convention so that a flag typed by hand always wins over an inherited variable.
 *
 * Repeatable options: every occurrence of the flag is one value (split further only when the
 * option has a `separator`, and only where the value syntax cannot contain it: a label selector
 * contains commas, so each `--blocking-pod-selector` is one selector and repetition means OR, as in
 * kured). In the environment, several values are separated by newlines. Flags replace the
 * environment as a whole; the two are never merged.
 *
 * Strictness, because a configuration mistake on a reboot tool surfaces as an outage days later:
 * unknown flags (with a "did you mean"), positional arguments, a single-value flag given twice,
 * a missing value, `BATON_*` variables that name no option and `KURED_*` variables this process
 * does not take (with where that kured flag went) are all errors. Every problem is
 * collected and reported at once in a {@link ConfigError}; the result is deeply frozen.
 */
import type * as z from 'zod/mini';
import {
  ConfigError,
  type ConfigIssue,
  invalidValueIssue,
  type Origin,
  quote,
  redact,
  redactCredentials,
} from './errors.ts';
import { type Bounds, boolean as booleanValue, issueDetail, type ValueType } from './values.ts';

// ---------------------------------------------------------------------------------------------
// Option definitions
// ---------------------------------------------------------------------------------------------

interface OptionCommon<N extends string> {
  /** kebab-case flag name without dashes; also gives the `BATON_` variable and the camelCase key. */
  readonly name: N;
  /** Other accepted flag names (kured's, usually). */
  readonly aliases?: readonly string[];
  /** Environment variables read after `BATON_<NAME>`, in this order. */
  readonly env?: readonly string[];
  /** One or more sentences for the reference and `--help`. */
  readonly description: string;
  /** kured's flag with this meaning, without dashes, if any. */
  readonly kuredFlag?: string;
  /** How baton's behaviour differs from that kured flag. */
  readonly kuredNote?: string;
  /** Values may hold secrets (webhook URLs carry tokens): messages show only the scheme. */
  readonly sensitive?: boolean;
}

/** One value; `undefined` in the result when neither given, defaulted nor required. */
export interface SingleOption<N extends string = string, T = unknown> extends OptionCommon<N>, ValueType<T> {
  readonly kind: 'single';
  /** Default as text, parsed like user input (so the reference shows `30m`, not 1800000). */
  readonly default?: string;
  /** Makes the option mandatory; the text says where the value normally comes from. */
  readonly required?: string;
}

/** Any number of values, in the order given. */
export interface RepeatableOption<N extends string = string, T = unknown>
  extends OptionCommon<N>,
    ValueType<T> {
  readonly kind: 'repeatable';
  /** Also split each occurrence on this string (only for values that cannot contain it). */
  readonly separator?: string;
  readonly default?: readonly string[];
}

/** `--flag` alone means true; `--flag=false` (or 0/no) false. */
export interface BooleanOption<N extends string = string> extends OptionCommon<N> {
  readonly kind: 'boolean';
  readonly default?: boolean;
}

export type OptionDef = SingleOption | RepeatableOption | BooleanOption;
export type OptionTable = readonly OptionDef[];

/** `drain-timeout` → `drainTimeout`. */
export type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

type Output<D> = D extends { readonly schema: infer S extends z.ZodMiniType } ? z.output<S> : never;

/** The value type one option definition produces. */
export type OptionValue<D> = D extends { readonly kind: 'boolean' }
  ? boolean
  : D extends { readonly kind: 'repeatable' }
    ? readonly Output<D>[]
    : D extends { readonly default: string } | { readonly required: string }
      ? Output<D>
      : Output<D> | undefined;

/** The parsed configuration of a table: camelCase key per option. */
export type OptionValues<T extends OptionTable> = {
  readonly [D in T[number] as CamelCase<D['name']>]: OptionValue<D>;
};

/**
 * Declares a table. The `const` type parameter keeps option names as literal types, which is what
 * lets {@link OptionValues} name the result's keys. Checks the table itself (duplicate names or
 * variables; defaults: {@link checkOptionDefaults}) and throws a plain Error: those are bugs, not configuration errors.
 */
export function defineOptions<const T extends OptionTable>(table: T): T {
  const seenFlags = new Set<string>();
  const seenEnv = new Set<string>();
  for (const def of table) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(def.name))
      throw new Error(`option name "${def.name}" is not kebab-case`);
    for (const flag of [def.name, ...(def.aliases ?? [])]) {
      if (seenFlags.has(flag)) throw new Error(`flag --${flag} is defined twice`);
      seenFlags.add(flag);
    }
    for (const env of envNames(def)) {
      if (seenEnv.has(env)) throw new Error(`environment variable ${env} is defined twice`);
      seenEnv.add(env);
    }
  }
  return table;
}

/**
 * Throws when a default does not parse. Run by the unit tests for every table, not at load:
 * parsing a time-zone default loads ICU's zone data (about 9 MiB), which the agent never needs.
 */
export function checkOptionDefaults(table: OptionTable): void {
  for (const def of table) {
    for (const text of defaultTexts(def)) {
      const result = valueTypeOf(def).schema.safeParse(text);
      if (!result.success) throw new Error(`the default "${text}" of --${def.name} does not parse`);
    }
  }
}

/** `drain-timeout` → `BATON_DRAIN_TIMEOUT`. */
export function envName(name: string): string {
  return `BATON_${name.toUpperCase().replaceAll('-', '_')}`;
}

/** `lock-ttl` → `KURED_LOCK_TTL`: how kured reads each of its flags from the environment. */
export function kuredEnvName(kuredFlag: string): string {
  return `KURED_${kuredFlag.toUpperCase().replaceAll('-', '_')}`;
}

/** Every environment variable an option reads, in precedence order. */
export function envNames(def: OptionDef): readonly string[] {
  const names = [envName(def.name), ...(def.env ?? [])];
  if (def.kuredFlag !== undefined && !names.includes(kuredEnvName(def.kuredFlag))) {
    names.push(kuredEnvName(def.kuredFlag));
  }
  return names;
}

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `BATON_` variables that are not options: the development tooling's (README, e2e harness, CI).
 * Without this list a controller started from a developer's shell would refuse to run.
 * scripts/tooling-env.test.ts fails when the tooling uses a `BATON_` variable missing here.
 */
export const NON_OPTION_BATON_ENV: readonly string[] = [
  'BATON_TOOLS_CACHE',
  'BATON_CLUSTERS_DIR',
  'BATON_KURED_SOURCE',
  'BATON_DEBIAN_MIRROR',
  // CI: a skipped real-node test is a failure (.ci/run exports it to every child of the run).
  'BATON_REQUIRE_REAL_NODE',
  // sim/run.ts: marks its own worker processes.
  'BATON_SIM_WORKER',
  // Tests only: shifts the process's wall clock (packages/runtime/src/wall-clock.ts).
  'BATON_TEST_CLOCK_OFFSET_MS',
];

function valueTypeOf(def: OptionDef): ValueType<unknown> {
  return def.kind === 'boolean' ? booleanValue : def;
}

function defaultTexts(def: OptionDef): readonly string[] {
  if (def.kind === 'boolean') return [String(def.default ?? false)];
  if (def.kind === 'repeatable') return def.default ?? [];
  return def.default === undefined ? [] : [def.default];
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

export interface OptionInput {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface ParseSettings {
  /** Extra words for flags the table does not have, keyed by name (kured flags moved or dropped). */
  readonly unknownFlagHints?: Readonly<Record<string, string>>;
}

/** What {@link collectOptions} found: values that parsed, where each came from, all problems. */
export interface CollectedOptions<V> {
  readonly values: Partial<V>;
  readonly origins: { readonly [K in keyof V]?: Origin };
  readonly issues: ConfigIssue[];
}

interface Occurrence {
  readonly source: string;
  readonly raw: string;
}

/** Parses and returns the frozen configuration, or throws a {@link ConfigError} with every issue. */
export function parseOptions<const T extends OptionTable>(
  table: T,
  input: OptionInput,
  settings: ParseSettings = {},
): OptionValues<T> {
  const collected = collectOptions(table, input, settings);
  if (collected.issues.length > 0) throw new ConfigError(collected.issues);
  // With no issues every required or defaulted option has its value, so Partial<V> is V.
  // (Through unknown: TypeScript cannot relate the partial and full mapped types of a generic table.)
  return deepFreeze(collected.values as unknown as OptionValues<T>);
}

/**
 * The first half of {@link parseOptions}, for callers that add cross-option checks: never throws
 * on bad input; parse failures are in `issues`, and `values` holds what did parse.
 */
export function collectOptions<const T extends OptionTable>(
  table: T,
  input: OptionInput,
  settings: ParseSettings = {},
): CollectedOptions<OptionValues<T>> {
  const issues: ConfigIssue[] = [];
  const byFlag = new Map<string, OptionDef>();
  for (const def of table) for (const flag of [def.name, ...(def.aliases ?? [])]) byFlag.set(flag, def);

  const fromFlags = scanArgv(input.argv, byFlag, settings, issues);

  const values: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  for (const def of table) {
    const key = camelCase(def.name);
    // Sensitive values show only their scheme; any other still never shows a password or token in it.
    const show = (raw: string) => (def.sensitive ? redact(raw) : redactCredentials(raw));
    const flagged = fromFlags.get(def) ?? [];
    const occurrences = flagged.length > 0 ? flagged : fromEnv(def, input.env);
    const first = occurrences[0];
    if (first === undefined) {
      if (def.kind === 'single' && def.required !== undefined) {
        issues.push(requiredIssue(def));
        continue;
      }
      const defaults = defaultTexts(def);
      const origin: Origin = {
        kind: 'default',
        source: `default of --${def.name}`,
        value: defaults.join(','),
      };
      origins[key] = origin;
      const parsed = defaults.map((text) => parseValue(def, { source: origin.source, raw: text }, show));
      values[key] = def.kind === 'repeatable' ? parsed.map((p) => p.value) : parsed[0]?.value;
      continue;
    }
    origins[key] = {
      kind: flagged.length > 0 ? 'flag' : 'env',
      source: first.source,
      value: show(first.raw),
    };
    if (def.kind !== 'repeatable') {
      if (occurrences.length > 1) {
        issues.push(repeatedIssue(def, occurrences, show));
        continue;
      }
      const result = parseValue(def, first, show);
      if (result.issue) issues.push(result.issue);
      else values[key] = result.value;
      continue;
    }
    const items: unknown[] = [];
    let failed = false;
    for (const occurrence of occurrences) {
      const pieces = def.separator === undefined ? [occurrence.raw] : occurrence.raw.split(def.separator);
      for (const raw of pieces) {
        const result = parseValue(def, { source: occurrence.source, raw }, show);
        if (result.issue) {
          issues.push(result.issue);
          failed = true;
        } else {
          items.push(result.value);
        }
      }
    }
    if (!failed) values[key] = items;
  }

  issues.push(...unknownEnvIssues(table, input.env, settings));
  // The record was filled key by key from the same table the type is computed from.
  return { values: values as Partial<OptionValues<T>>, origins, issues };
}

/**
 * The second half of {@link parseOptions}: throws if any issue was collected, else returns the
 * values with `extra` (derived fields) merged over them, deeply frozen.
 */
export function finishOptions<V, X extends object>(
  collected: CollectedOptions<V>,
  extra: X,
): Omit<V, keyof X> & X {
  if (collected.issues.length > 0) throw new ConfigError(collected.issues);
  // With no issues every required or defaulted option has its value, so Partial<V> is V.
  return deepFreeze({ ...(collected.values as V), ...extra });
}

/** `origins` entry if the option was given on the command line or in the environment. */
export function givenOrigin<V>(collected: CollectedOptions<V>, key: keyof V): Origin | undefined {
  const origin = collected.origins[key];
  return origin?.kind === 'default' ? undefined : origin;
}

function parseValue(
  def: OptionDef,
  occurrence: Occurrence,
  show: (raw: string) => string,
): { value: unknown; issue?: undefined } | { value?: undefined; issue: ConfigIssue } {
  const type = valueTypeOf(def);
  const result = type.schema.safeParse(occurrence.raw);
  if (result.success) return { value: result.data };
  return {
    issue: invalidValueIssue(
      occurrence.source,
      show(occurrence.raw),
      type.expected,
      redactCredentials(issueDetail(result.error)),
    ),
  };
}

/** Walks argv once; returns the raw occurrences per option and pushes structural issues. */
function scanArgv(
  argv: readonly string[],
  byFlag: ReadonlyMap<string, OptionDef>,
  settings: ParseSettings,
  issues: ConfigIssue[],
): Map<OptionDef, Occurrence[]> {
  const found = new Map<OptionDef, Occurrence[]>();
  let previousBoolean: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const afterBoolean = previousBoolean;
    previousBoolean = undefined;
    if (!arg.startsWith('--') || arg === '--') {
      issues.push(positionalIssue(arg, afterBoolean));
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const source = `--${name}`;
    const def = byFlag.get(name);
    if (def === undefined) {
      issues.push(unknownFlagIssue(name, [...byFlag.keys()], settings));
      // `--unknown value`: the value belongs to the unknown flag, not a second error.
      const next = argv[i + 1];
      if (eq < 0 && next !== undefined && !next.startsWith('-')) i++;
      continue;
    }
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (def.kind === 'boolean') {
      if (raw === undefined) previousBoolean = name;
      raw ??= 'true';
    } else if (raw === undefined) {
      // A following `--flag` is not taken as the value: `--drain-timeout --node-id=x` forgot one.
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        const expected = valueTypeOf(def).expected;
        issues.push({
          source,
          value: '',
          expected,
          message: `${source}: missing value: expected ${expected}`,
        });
        continue;
      }
      raw = next;
      i++;
    }
    const list = found.get(def) ?? [];
    list.push({ source, raw });
    found.set(def, list);
  }
  return found;
}

function fromEnv(def: OptionDef, env: OptionInput['env']): Occurrence[] {
  for (const name of envNames(def)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const source = `env ${name}`;
    if (def.kind !== 'repeatable') return [{ source, raw }];
    return raw
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map((line) => ({ source, raw: line }));
  }
  return [];
}

function positionalIssue(given: string, afterBoolean: string | undefined): ConfigIssue {
  // A stray argument may be a misplaced secret: shown without credentials.
  const arg = redactCredentials(given);
  const expected = 'options written as --name=value';
  let hint = '';
  if (afterBoolean !== undefined && /^(true|false|1|0|yes|no)$/i.test(arg)) {
    hint = ` (--${afterBoolean} takes no separate value: write --${afterBoolean}=${arg})`;
  } else if (/^-[^-]/.test(arg)) {
    hint = ' (flags start with two dashes)';
  }
  return {
    source: arg,
    value: arg,
    expected,
    message: `unexpected argument ${quote(arg)}${hint}: expected ${expected}`,
  };
}

function unknownFlagIssue(name: string, known: readonly string[], settings: ParseSettings): ConfigIssue {
  const hint = settings.unknownFlagHints?.[name];
  const suggestion = closest(name, known);
  const expected = suggestion === undefined ? 'a flag of this program' : `--${suggestion}`;

  const tail =
    hint !== undefined ? `: ${hint}` : suggestion !== undefined ? `; did you mean --${suggestion}?` : '';
  // The value of an unknown flag cannot be known not to be a secret (a misspelt --notify-url):
  // only the flag's name is shown, as the names alone of unknown variables are.
  return { source: `--${name}`, value: `--${name}`, expected, message: `unknown flag --${name}${tail}` };
}

/**
 * The variables a kubelet gives every container for each Service of its namespace (service
 * links, on unless a pod sets enableServiceLinks: false): a Service named `baton-…` (a Helm
 * release named baton has `baton-controller-metrics`) yields BATON_CONTROLLER_METRICS_SERVICE_HOST
 * and the like. They are not misspelt options, so they are never refused. The bare `<NAME>_PORT`
 * form counts only with a link's value (tcp://10.0.0.1:8080), so a misspelt BATON_…_PORT still is.
 */
export function isServiceLinkVariable(name: string, value: string | undefined): boolean {
  if (/_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$/.test(name)) return true;
  if (/_PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?$/.test(name)) return true;
  return /_PORT$/.test(name) && /^(tcp|udp|sctp):\/\/\S+:\d+$/.test(value ?? '');
}

function unknownEnvIssues(
  table: OptionTable,
  env: OptionInput['env'],
  settings: ParseSettings,
): ConfigIssue[] {
  const known = new Set(table.flatMap((def) => envNames(def)));
  const batonNames = [...known].filter((name) => name.startsWith('BATON_'));
  const issues: ConfigIssue[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('KURED_') && !known.has(name) && !isServiceLinkVariable(name, env[name])) {
      // kured read KURED_<FLAG> for each of its flags; one this process does not take is refused
      // with where it went, never dropped.
      if (env[name] === undefined || env[name] === '') continue;
      const flag = name.slice('KURED_'.length).toLowerCase().replaceAll('_', '-');
      const hint = settings.unknownFlagHints?.[flag];
      issues.push({
        source: `env ${name}`,
        value: '',
        expected: 'a KURED_ variable of a kured flag this process takes',
        message:
          hint === undefined
            ? `env ${name}: names no flag of kured 1.23.0 that this process takes`
            : `env ${name}: ${hint}`,
      });
      continue;
    }
    if (!name.startsWith('BATON_') || known.has(name) || NON_OPTION_BATON_ENV.includes(name)) continue;
    if (isServiceLinkVariable(name, env[name])) continue;
    const suggestion = closest(name, batonNames);
    const expected = suggestion ?? 'a BATON_ variable named after a flag';
    const tail = suggestion === undefined ? 'no option has this name' : `did you mean ${suggestion}?`;
    // The value is left out: an unknown variable cannot be known not to hold a secret.
    issues.push({
      source: `env ${name}`,
      value: '',
      expected,
      message: `env ${name}: unknown variable; ${tail}`,
    });
  }
  return issues;
}

function requiredIssue(def: SingleOption): ConfigIssue {
  const where = def.required === '' || def.required === undefined ? '' : ` (${def.required})`;
  const env = envNames(def).join(', ');
  return {
    source: `--${def.name}`,
    value: '',
    expected: def.expected,
    message: `--${def.name} is required${where}; it can also come from ${env}: expected ${def.expected}`,
  };
}

function repeatedIssue(
  def: OptionDef,
  occurrences: readonly Occurrence[],
  show: (raw: string) => string,
): ConfigIssue {
  const first = occurrences[0];
  const expected = valueTypeOf(def).expected;
  const givens = occurrences.map((o) => `${o.source}=${quote(show(o.raw))}`).join(', ');
  return {
    source: first?.source ?? `--${def.name}`,
    value: occurrences.map((o) => show(o.raw)).join(', '),
    expected,
    message: `--${def.name} given more than once (${givens}) but takes one value: expected ${expected}`,
  };
}

/**
 * Whether argv asks for help (`--help` or `-h` anywhere). The runtime checks this before parsing,
 * since help is not an option and the parser would reject it as unknown.
 */
export function isHelpRequest(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** Closest candidate within edit distance 2 (the usual typos: a missing, extra or swapped letter). */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, two rows. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * Object.freeze, recursively, so no part of a configuration can change after start. RegExps are
 * frozen too; non-global ones never write `lastIndex`, so `test`/`exec` keep working.
 */
export function deepFreeze<T>(value: T, seen: WeakSet<object> = new WeakSet()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze(Reflect.get(value, key), seen);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Reference
// ---------------------------------------------------------------------------------------------

/** One row of the configuration reference (docs and `--help`). */
export interface OptionRow {
  readonly flag: string;
  readonly aliases: readonly string[];
  readonly env: readonly string[];
  readonly kind: OptionDef['kind'];
  /** The default as text; `undefined` when there is none. */
  readonly default: string | undefined;
  /** Where the value normally comes from, when the option is required. */
  readonly required: string | undefined;
  readonly expected: string;
  readonly description: string;
  /** kured's equivalent flag (`--lock-release-delay`), if any. */
  readonly kured: string | undefined;
  readonly kuredNote: string | undefined;
  /** For counts and durations: the accepted range (`expected` states it in words). */
  readonly bounds: Bounds | undefined;
}

export function describeOptions(table: OptionTable): readonly OptionRow[] {
  return table.map((def) => {
    const defaults = defaultTexts(def);
    return {
      flag: `--${def.name}`,
      aliases: (def.aliases ?? []).map((alias) => `--${alias}`),
      env: envNames(def),
      kind: def.kind,
      default: defaults.length === 0 ? undefined : defaults.join(', '),
      required: def.kind === 'single' ? def.required : undefined,
      expected: valueTypeOf(def).expected,
      description: def.description,
      kured: def.kuredFlag === undefined ? undefined : `--${def.kuredFlag}`,
      kuredNote: def.kuredNote,
      bounds: def.kind === 'boolean' ? undefined : def.bounds,
    };
  });
}
