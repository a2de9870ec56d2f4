/**
 * The command line of `kubectl baton`, parsed into one typed command. Pure: no cluster, no files.
 *
 * Strict on purpose: an unknown flag, a flag that belongs to another command, a missing or extra
 * argument is a usage error (exit 2) naming the flag and the expected form, never a guess.
 * Values reuse the protocol's parsers (durations as in the controller's flags, namespace and
 * label key syntax), so `--for 48h` means here what `48h` means everywhere in baton.
 */
import { parseArgs } from 'node:util';
import { Label } from '@baton/protocol';
import {
  controllerOptions,
  duration,
  issueDetail,
  labelKey,
  namespaceName,
  type ValueType,
} from '@baton/protocol/config';
import { COMMANDS, type CommandName } from './command-names.ts';
import { usageError } from './errors.ts';
import { commandHelp, mainHelp } from './help.ts';

export type Output = 'text' | 'json';

export interface GlobalOptions {
  /** `--kubeconfig`; else KUBECONFIG, else ~/.kube/config, as kubectl. */
  readonly kubeconfig: string | undefined;
  /** `--context`; else the kubeconfig's current context. */
  readonly context: string | undefined;
  /** `-n/--namespace`: the controller's namespace, where the slot and pause Leases live. */
  readonly namespace: string;
  /** `--opt-out-label`: the label the controller was configured with (`--opt-out-label`). */
  readonly optOutLabel: string;
  /** `--request-timeout`: how long one API request may take, in ms; 0 = no limit. */
  readonly requestTimeoutMs: number;
}

export type Command =
  | { readonly name: 'status'; readonly output: Output; readonly nodes: readonly string[] }
  | { readonly name: 'why'; readonly output: Output; readonly node: string }
  | { readonly name: 'pause'; readonly forMs: number | undefined; readonly reason: string | undefined }
  | { readonly name: 'resume' }
  | { readonly name: 'release'; readonly target: string; readonly force: boolean }
  | { readonly name: 'request'; readonly node: string }
  | { readonly name: 'cancel'; readonly node: string };

export type Parsed =
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'run'; readonly global: GlobalOptions; readonly command: Command };

export const DEFAULT_NAMESPACE = 'baton';

/**
 * kubectl waits forever by default; a command an operator runs during an incident should not
 * hang on an API server that accepts connections but never answers.
 */
export const DEFAULT_REQUEST_TIMEOUT = '30s';

/** The controller's own default, so the two cannot disagree unless someone configured them to. */
export const DEFAULT_OPT_OUT_LABEL: string =
  controllerOptions.find((o) => o.name === 'opt-out-label')?.default ?? Label.OptOut;

const OPTIONS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  'opt-out-label': { type: 'string' },
  'request-timeout': { type: 'string' },
  output: { type: 'string', short: 'o' },
  for: { type: 'string' },
  reason: { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionName = keyof typeof OPTIONS;

const GLOBAL: readonly OptionName[] = [
  'kubeconfig',
  'context',
  'namespace',
  'opt-out-label',
  'request-timeout',
  'help',
];

/** The flags each command takes besides the global ones. */
const COMMAND_OPTIONS: Readonly<Record<CommandName, readonly OptionName[]>> = {
  status: ['output'],
  why: ['output'],
  pause: ['for', 'reason'],
  resume: [],
  release: ['force'],
  request: [],
  cancel: [],
};

/** Positional arguments per command: names for messages, and how many are allowed. */
const POSITIONALS: Readonly<
  Record<CommandName, { readonly names: string; readonly min: number; readonly max: number }>
> = {
  status: { names: '[NODE...]', min: 0, max: Number.POSITIVE_INFINITY },
  why: { names: 'NODE', min: 1, max: 1 },
  pause: { names: '', min: 0, max: 0 },
  resume: { names: '', min: 0, max: 0 },
  release: { names: 'SLOT|NODE', min: 1, max: 1 },
  request: { names: 'NODE', min: 1, max: 1 },
  cancel: { names: 'NODE', min: 1, max: 1 },
};

function flagName(name: OptionName): string {
  const short = (OPTIONS[name] as { short?: string }).short;
  return short !== undefined ? `-${short}/--${name}` : `--${name}`;
}

function value<T>(flag: string, text: string, type: ValueType<T>): T {
  const res = type.schema.safeParse(text);
  if (res.success) return res.data;
  const detail = issueDetail(res.error);
  throw usageError(
    `${flag}: invalid value "${text}"${detail !== '' && !detail.startsWith('expected') ? ` (${detail})` : ''}: expected ${type.expected}`,
  );
}

/** `--for`: a duration of whole seconds, at least one (a Lease counts in seconds). */
export function parsePauseDuration(text: string): number {
  const ms = value('--for', text, duration);
  if (ms < 1000 || ms % 1000 !== 0) {
    throw usageError(
      `--for: invalid value "${text}": expected a duration of whole seconds, at least 1s, such as 30m, 48h or 1h30m`,
    );
  }
  return ms;
}

/** `--request-timeout`: `0` (no limit, as kubectl) or a duration such as 10s or 1m. */
export function parseRequestTimeout(text: string): number {
  if (text === '0') return 0;
  const ms = value('--request-timeout', text, duration);
  if (ms <= 0) {
    throw usageError(
      `--request-timeout: invalid value "${text}": expected 0 (no limit) or a positive duration such as 10s or 1m`,
    );
  }
  return ms;
}

export function parseCommandLine(argv: readonly string[]): Parsed {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError(
      `${(err as Error).message.replace(/\.$/, '')}; run kubectl baton --help for every command and flag`,
    );
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  if (first === undefined || first === 'help') {
    if (first === 'help' && rest[0] !== undefined) {
      const topic = rest[0];
      if (!isCommand(topic)) throw usageError(`unknown command "${topic}"; commands: ${COMMANDS.join(', ')}`);
      return { kind: 'help', text: commandHelp(topic) };
    }
    if (values.help === true || first === 'help') return { kind: 'help', text: mainHelp() };
    throw usageError(`a command is needed: ${COMMANDS.join(', ')}; run kubectl baton --help`);
  }
  if (!isCommand(first)) {
    throw usageError(
      `unknown command "${first}"; commands: ${COMMANDS.join(', ')}; run kubectl baton --help`,
    );
  }
  if (values.help === true) return { kind: 'help', text: commandHelp(first) };

  const allowed = new Set<OptionName>([...GLOBAL, ...COMMAND_OPTIONS[first]]);
  for (const name of Object.keys(values) as OptionName[]) {
    if (!allowed.has(name)) {
      throw usageError(`${flagName(name)} is not a flag of "${first}"; run kubectl baton ${first} --help`);
    }
  }
  const shape = POSITIONALS[first];
  if (rest.length < shape.min) {
    throw usageError(`"${first}" needs ${shape.names}; run kubectl baton ${first} --help`);
  }
  if (rest.length > shape.max) {
    throw usageError(
      shape.max === 0
        ? `"${first}" takes no arguments, got "${rest.join(' ')}"`
        : `"${first}" takes ${shape.names} only, got "${rest.join(' ')}"`,
    );
  }
  for (const arg of rest) {
    if (arg === '') throw usageError(`"${first}": an empty argument is not a ${shape.names}`);
  }

  const global: GlobalOptions = {
    kubeconfig: nonEmpty('--kubeconfig', values.kubeconfig),
    context: nonEmpty('--context', values.context),
    namespace:
      values.namespace === undefined
        ? DEFAULT_NAMESPACE
        : value('-n/--namespace', values.namespace, namespaceName),
    optOutLabel:
      values['opt-out-label'] === undefined
        ? DEFAULT_OPT_OUT_LABEL
        : value('--opt-out-label', values['opt-out-label'], labelKey),
    requestTimeoutMs: parseRequestTimeout(values['request-timeout'] ?? DEFAULT_REQUEST_TIMEOUT),
  };
  const output = parseOutput(values.output);
  const arg = rest[0] ?? '';
  const command: Command = (() => {
    switch (first) {
      case 'status':
        return { name: first, output, nodes: rest };
      case 'why':
        return { name: first, output, node: arg };
      case 'pause':
        return {
          name: first,
          forMs: values.for === undefined ? undefined : parsePauseDuration(values.for),
          reason: nonEmpty('--reason', values.reason),
        };
      case 'resume':
        return { name: first };
      case 'release':
        return { name: first, target: arg, force: values.force === true };
      case 'request':
      case 'cancel':
        return { name: first, node: arg };
    }
  })();
  return { kind: 'run', global, command };
}

function isCommand(text: string): text is CommandName {
  return (COMMANDS as readonly string[]).includes(text);
}

function nonEmpty(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === '') throw usageError(`${flag}: the value is empty`);
  return text;
}

function parseOutput(text: string | undefined): Output {
  if (text === undefined || text === 'text') return 'text';
  if (text === 'json') return 'json';
  throw usageError(`-o/--output: invalid value "${text}": expected json or text`);
}
