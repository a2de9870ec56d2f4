/**
 * Value types of the configuration: each turns one flag or environment string into a typed value.
 *
 * A value type is a zod schema (string in, typed value out) plus the `expected` text that every
 * error message ends with, so a person reading `--x: invalid value "v": expected …` learns the
 * accepted form without opening the docs. The parsing itself lives in plain `parseX` functions
 * that throw {@link InvalidValueError}; the schema only wraps them, so the runtime can reuse the
 * functions (a label selector read from a Node, say) without going through zod.
 *
 * No I/O here: nothing reads files, the clock or the network. The one exception is the time zone
 * `Local`, resolved from the process's own zone as Go's `time.LoadLocation("Local")` does.
 *
 * Time values live in ./time.ts, label values in ./labels.ts.
 */
// zod/mini: the same parsing as classic zod at a fraction of the memory (the agent must stay slim).

import * as z from 'zod/mini';
import { re2ToRegExp } from './re2.ts';

/** A string → T parser with the words that describe the accepted form. */
export interface ValueType<T> {
  /** zod schema: input is the raw text, output the typed value. */
  readonly schema: z.ZodMiniType<T, string>;
  /** Completes "expected …" in error messages, e.g. `a duration such as 30s, 5m or 1h30m`. */
  readonly expected: string;
  /** For counts and durations: the accepted range (`expected` states it too). */
  readonly bounds?: Bounds;
}

/**
 * The range of a count or a duration. Every count and duration option has one: a value past what
 * the runtime holds (Node's timers fire at once past 2^31-1 ms, a Lease's durations are int32
 * seconds) would start and then misbehave, so it is refused at start, naming the flag.
 */
export interface Bounds {
  /** Smallest accepted value: milliseconds for durations. */
  readonly min: number;
  /** Largest accepted value: milliseconds for durations. */
  readonly max: number;
  /** The maximum as the docs write it: `24h`, `168h (7 days)`, `1000`. */
  readonly maxText: string;
  readonly unit: 'ms' | 'count';
}

/**
 * Thrown by the `parseX` functions. `message` is the specific reason (may be empty when the
 * expected form says it all); the caller adds the flag name, the value and the expected form.
 */
export class InvalidValueError extends Error {
  override readonly name = 'InvalidValueError';
}

/** Builds a {@link ValueType} from a parse function that throws {@link InvalidValueError}. */
export function valueType<T>(expected: string, parse: (text: string) => T): ValueType<T> {
  const schema = z.pipe(
    z.string(),
    z.transform((text: string, ctx): T => {
      try {
        return parse(text);
      } catch (error) {
        // Only our own errors become validation issues; anything else is a bug and must surface.
        if (!(error instanceof InvalidValueError)) throw error;
        // zod replaces an empty message with "Invalid input"; `params.detail` keeps the exact reason.
        ctx.issues.push({
          code: 'custom',
          message: error.message || `expected ${expected}`,
          params: { detail: error.message },
          input: text,
        });
        return z.NEVER;
      }
    }),
  );
  return { schema, expected };
}

/** The specific reason of a failed parse (what {@link InvalidValueError} said); `''` if none. */
export function issueDetail(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return '';
  if (issue.code === 'custom' && typeof issue.params?.detail === 'string') return issue.params.detail;
  return issue.message;
}

// ---------------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------------

/**
 * Decimal integer, optionally negative. No `+`, no exponent, no hex, no spaces: a config value
 * that needs any of those is more likely a mistake than an intent.
 */
export function parseInteger(text: string): number {
  if (!/^-?[0-9]+$/.test(text)) throw new InvalidValueError('');
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new InvalidValueError('too large');
  return Object.is(value, -0) ? 0 : value;
}

/**
 * Integer within `[min, max]`; `expected` names the range (a custom `expected` must name it too).
 * There is always a maximum: a count past what anything can use (`--concurrency=1e9`) is a mistake.
 */
export function integer(options: { min: number; max: number; expected?: string }): ValueType<number> {
  const { min, max } = options;
  return {
    ...valueType(options.expected ?? `an integer from ${min} to ${max}`, (text) => {
      const value = parseInteger(text);
      if (value < min)
        throw new InvalidValueError(value < 0 && min >= 0 ? 'negative values are not allowed here' : '');
      if (value > max) throw new InvalidValueError(`more than ${max}`);
      return value;
    }),
    bounds: { min, max, maxText: String(max), unit: 'count' },
  };
}

export const port: ValueType<number> = integer({
  min: 1,
  max: 65535,
  expected: 'a port number from 1 to 65535',
});

/** Signal numbers of Linux (1..64, real-time signals included: systemd reboots on SIGRTMIN+5 = 39). */
export const signalNumber: ValueType<number> = integer({
  min: 1,
  max: 64,
  expected: 'a signal number from 1 to 64, such as 39 (SIGRTMIN+5)',
});

/** `--max-unavailable`: a node count or a share of the nodes. */
export type MaxUnavailable =
  | { readonly kind: 'count'; readonly value: number }
  | { readonly kind: 'percent'; readonly value: number };

/** The largest node count `--max-unavailable` takes: more nodes than any cluster has. */
export const MAX_UNAVAILABLE_COUNT = 100_000;

export function parseMaxUnavailable(text: string): MaxUnavailable {
  const percent = /^([0-9]+)%$/.exec(text);
  if (percent) {
    const value = Number(percent[1]);
    if (value > 100) throw new InvalidValueError('a percentage cannot exceed 100%');
    return { kind: 'percent', value };
  }
  const value = parseInteger(text);
  if (value < 0) throw new InvalidValueError('negative values are not allowed here');
  if (value > MAX_UNAVAILABLE_COUNT) throw new InvalidValueError(`more than ${MAX_UNAVAILABLE_COUNT}`);
  return { kind: 'count', value };
}

export const maxUnavailable: ValueType<MaxUnavailable> = {
  ...valueType(
    `a node count from 0 to ${MAX_UNAVAILABLE_COUNT} such as 2, or a percentage such as 10% (0% to 100%)`,
    parseMaxUnavailable,
  ),
  bounds: { min: 0, max: MAX_UNAVAILABLE_COUNT, maxText: String(MAX_UNAVAILABLE_COUNT), unit: 'count' },
};

// ---------------------------------------------------------------------------------------------
// Booleans and enums
// ---------------------------------------------------------------------------------------------

/** `true|false|1|0|yes|no`, any case. A boolean flag given without a value means `true` (flags.ts). */
export function parseBoolean(text: string): boolean {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === '1' || lower === 'yes') return true;
  if (lower === 'false' || lower === '0' || lower === 'no') return false;
  throw new InvalidValueError('');
}

export const boolean: ValueType<boolean> = valueType('true or false (also 1/0, yes/no)', parseBoolean);

/** One of a fixed set of words, exact case (they are identifiers, not prose). */
export function oneOf<const T extends string>(choices: readonly T[]): ValueType<T> {
  const expected =
    choices.length === 2
      ? `${choices[0]} or ${choices[1]}`
      : `one of ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
  return valueType(expected, (text) => {
    const found = choices.find((choice) => choice === text);
    if (found === undefined) {
      const folded = choices.find((choice) => choice.toLowerCase() === text.toLowerCase());
      throw new InvalidValueError(folded === undefined ? '' : `write it in lower case: ${folded}`);
    }
    return found;
  });
}

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export const logFormat: ValueType<LogFormat> = oneOf(LOG_FORMATS);

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const logLevel: ValueType<LogLevel> = oneOf(LOG_LEVELS);

// ---------------------------------------------------------------------------------------------
// Strings, names and paths
// ---------------------------------------------------------------------------------------------

export const nonEmptyString: ValueType<string> = valueType('a non-empty string', (text) => {
  if (text.trim() === '') throw new InvalidValueError('it is empty');
  return text;
});

/** A file path; relative paths resolve against the working directory (useful outside a cluster). */
export const path: ValueType<string> = valueType('a file path', (text) => {
  if (text === '') throw new InvalidValueError('it is empty');
  if (text.includes('\0')) throw new InvalidValueError('it contains a NUL byte');
  return text;
});

/** An absolute path: the agent runs in a container whose working directory means nothing. */
export const absolutePath: ValueType<string> = valueType(
  'an absolute file path such as /var/run/reboot-required',
  (text) => {
    if (!text.startsWith('/')) throw new InvalidValueError('the path must start with /');
    if (text.includes('\0')) throw new InvalidValueError('it contains a NUL byte');
    return text;
  },
);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label: what Kubernetes requires of namespace names. */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && DNS_LABEL.test(text);
}

/** RFC 1123 subdomain: what Kubernetes requires of Node names and label-key prefixes. */
export function isDnsSubdomain(text: string): boolean {
  return text.length > 0 && text.length <= 253 && text.split('.').every((label) => DNS_LABEL.test(label));
}

export const namespaceName: ValueType<string> = valueType(
  'a namespace name (lower-case letters, digits and "-", at most 63 characters)',
  (text) => {
    if (!isDnsLabel(text)) throw new InvalidValueError('');
    return text;
  },
);

export const nodeName: ValueType<string> = valueType(
  'a node name (a DNS subdomain: lower-case letters, digits, "-" and ".", at most 253 characters)',
  (text) => {
    if (!isDnsSubdomain(text)) throw new InvalidValueError('');
    return text;
  },
);

/**
 * Listen address: an IPv4 or IPv6 literal or a host name. Loose on purpose (the listener gives
 * the precise error); it catches the usual slips: empty, a URL, a port glued on.
 */
export const listenHost: ValueType<string> = valueType(
  'an IP address or host name to listen on, such as 0.0.0.0 or ::',
  (text) => {
    if (text === '') throw new InvalidValueError('write 0.0.0.0 (or ::) for all interfaces');
    if (text.includes('://')) throw new InvalidValueError('give a host, not a URL');
    if (/^[^:]+:[0-9]+$/.test(text)) throw new InvalidValueError('give the port with the port option');
    if (!/^[A-Za-z0-9.:%_-]+$/.test(text)) throw new InvalidValueError('');
    return text;
  },
);

// ---------------------------------------------------------------------------------------------
// Regular expressions
// ---------------------------------------------------------------------------------------------

/**
 * A regular expression in Go's RE2 syntax, as kured (`--alert-filter-regexp`) and Prometheus
 * (`=~` matchers) read it, translated to a JavaScript RegExp of the same meaning (re2.ts); what
 * Go refuses is refused with Go's reason.
 */
export function parseRegex(text: string): RegExp {
  try {
    return re2ToRegExp(text);
  } catch (error) {
    throw new InvalidValueError(error instanceof Error ? error.message : String(error));
  }
}

export const regex: ValueType<RegExp> = valueType(
  "a regular expression in Go's RE2 syntax (as kured)",
  parseRegex,
);

/**
 * `--alert-label-matcher`: a Prometheus-style label matcher, `name=value`, `name!=value`,
 * `name=~regex` or `name!~regex`. Regexes are anchored like Prometheus anchors them.
 */
export interface AlertLabelMatcher {
  readonly name: string;
  readonly operator: '=' | '!=' | '=~' | '!~';
  readonly value: string;
  /** For `=~` and `!~`: the anchored pattern `^(?:value)$`. */
  readonly regex: RegExp | undefined;
}

export function parseAlertLabelMatcher(text: string): AlertLabelMatcher {
  const match = /^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)(.*)$/s.exec(text);
  if (!match) throw new InvalidValueError('');
  const [, name = '', operator = '=', value = ''] = match;
  if (operator === '=~' || operator === '!~') {
    return { name, operator, value, regex: parseRegex(`^(?:${value})$`) };
  }
  return { name, operator: operator === '!=' ? '!=' : '=', value, regex: undefined };
}

export const alertLabelMatcher: ValueType<AlertLabelMatcher> = valueType(
  'a label matcher such as severity=critical, team!=infra or alertname=~"Kube.*"',
  parseAlertLabelMatcher,
);

// ---------------------------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------------------------

function parseUrl(text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new InvalidValueError('not a URL');
  }
}

/** http(s) URL, returned normalised (`url.href`): a string freezes, a `URL` object does not. */
export function parseHttpUrl(text: string): string {
  const url = parseUrl(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // `user:password@host` parses with the user as its scheme: never name that one.
    if (/^[^/]*@/.test(text)) throw new InvalidValueError('it does not start with http:// or https://');
    throw new InvalidValueError(`the scheme is "${url.protocol.slice(0, -1)}", not http or https`);
  }
  return url.href;
}

export const httpUrl: ValueType<string> = valueType('an http:// or https:// URL', parseHttpUrl);

/**
 * Notification URL. kured took shoutrrr URLs (`slack://…`, `teams://…`, `smtp://…`); baton posts
 * a JSON webhook instead, so a non-http scheme gets a message saying what to give instead.
 */
export function parseNotifyUrl(text: string): string {
  // Helm users often quote the value twice; kured stripped the quotes (#550), so do we.
  const unquoted = /^(["'])(.*)\1$/s.exec(text)?.[2] ?? text;
  const url = parseUrl(unquoted);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidValueError(
      `"${url.protocol}//" looks like a kured/shoutrrr URL; baton posts JSON webhooks to http(s) URLs ` +
        '(for Slack, give the https://hooks.slack.com/… incoming-webhook URL)',
    );
  }
  return url.href;
}

export const notifyUrl: ValueType<string> = valueType('an http:// or https:// webhook URL', parseNotifyUrl);

// ---------------------------------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------------------------------

/**
 * Splits a command line into argv like a POSIX shell would split words, and nothing more:
 * whitespace separates, '…' is literal, "…" honours \" \\ \$ \`, a backslash outside quotes
 * escapes the next character. No variables, globs or operators: the command is executed
 * directly (kured used shlex the same way), so a `|`, `;`, `&&` or `>` word is refused rather
 * than passed on as a literal argument nobody meant.
 */
export function splitCommandLine(text: string): readonly string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let unquotedWord = true;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text.charAt(i + 1)))
        word += text.charAt(++i);
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
      unquotedWord = false;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new InvalidValueError('it ends with a lone backslash');
      word += text.charAt(++i);
      inWord = true;
      unquotedWord = false;
    } else if (/\s/.test(c)) {
      if (inWord) pushWord();
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new InvalidValueError(`unterminated ${quote} quote`);
  if (inWord) pushWord();
  if (words.length === 0) throw new InvalidValueError('the command is empty');
  return words;

  function pushWord(): void {
    if (unquotedWord && ['|', '||', '&', '&&', ';', '>', '>>', '<'].includes(word)) {
      throw new InvalidValueError(
        `"${word}" is not interpreted (no shell runs the command); wrap it in sh -c '…'`,
      );
    }
    words.push(word);
    word = '';
    inWord = false;
    unquotedWord = true;
  }
}

export const commandLine: ValueType<readonly string[]> = valueType(
  'a command such as "/bin/systemctl reboot" (split into words like a shell: quotes and backslashes work, variables and pipes do not)',
  splitCommandLine,
);
