/**
 * Configuration errors: one {@link ConfigIssue} per problem, all of them in one {@link ConfigError}.
 *
 * Every line names where the value came from (`--flag` or `env NAME`), the value as given and the
 * accepted form, so the line alone tells a person what to change.
 */

/** Where a value came from, for messages about combinations. */
export interface Origin {
  readonly kind: 'flag' | 'env' | 'default';
  /** `--drain-timeout`, `env BATON_DRAIN_TIMEOUT` or `default of --drain-timeout`. */
  readonly source: string;
  /** The (first) raw value, redacted for sensitive options. */
  readonly value: string;
}

export interface ConfigIssue {
  /** `--drain-timeout`, `env BATON_DRAIN_TIMEOUT`, or the argument as given for unknown ones. */
  readonly source: string;
  /** The value as given (only the scheme for sensitive options); `''` when there was none. */
  readonly value: string;
  /** The accepted form. */
  readonly expected: string;
  /** The complete line shown to people. */
  readonly message: string;
}

/** Every configuration problem found, one line each in `message`. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((issue) => issue.message).join('\n'));
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
  }
}

/** `--x: invalid value "v": expected E (detail)`. */
export function invalidValueIssue(source: string, value: string, expected: string, detail = ''): ConfigIssue {
  const reason = detail === '' ? '' : ` (${detail})`;
  return {
    source,
    value,
    expected,
    message: `${source}: invalid value ${quote(value)}: expected ${expected}${reason}`,
  };
}

/**
 * Two options that cannot be used together (or one that needs another): names both with the
 * values given, so the line alone says what to change.
 */
export function combinationIssue(first: Origin, second: Origin | string, expected: string): ConfigIssue {
  const other = typeof second === 'string' ? second : `${second.source}=${quote(second.value)}`;
  return {
    source: first.source,
    value: first.value,
    expected,
    message: `${first.source}=${quote(first.value)} conflicts with ${other}: expected ${expected}`,
  };
}

/** `--x="v" requires --y: expected …`. */
export function requirementIssue(first: Origin, required: string, expected: string): ConfigIssue {
  return {
    source: first.source,
    value: first.value,
    expected,
    message: `${first.source}=${quote(first.value)} requires ${required}: expected ${expected}`,
  };
}

export function quote(text: string): string {
  return JSON.stringify(text);
}

/** Keeps the scheme of a sensitive value (enough to see a `slack://` mistake), hides the rest. */
export function redact(text: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:(\/\/)?/.exec(text)?.[0] ?? '';
  return text === '' ? '' : `${scheme}…(redacted)`;
}
