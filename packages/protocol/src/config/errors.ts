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

/** What replaces a credential in {@link redactCredentials}'s output. */
export const REDACTED = '(redacted)';

/**
 * Query parameters whose values are credentials: `token=`, `access_token=`, `api-key=`,
 * `X-Amz-Signature=`, `password=`, `sig=` (Azure SAS), `code=` (Azure Functions) and the like.
 */
const SECRET_PARAMETER =
  /^(.*[-_.])?(token|key|apikey|secret|password|passwd|pwd|pass|auth|authorization|credentials?|signature|sig|code|session)$/i;

/**
 * Hides the credentials in any text that may contain URLs or headers (an error message, a value
 * as given), keeping the rest readable: the userinfo of a URL (`https://user:pw@host` →
 * `https://(redacted)@host`, also written without a scheme, `user:pw@host`), the values of
 * query parameters that carry secrets (`?token=(redacted)`), and `Bearer`/`Basic` credentials.
 * Text without any of these comes back unchanged. For values that are secret as a whole
 * (webhook URLs carry their token in the path) use {@link redact}.
 */
export function redactCredentials(text: string): string {
  return (
    text
      // scheme://userinfo@ — up to the last "@" of the word, since a password may contain "/", "?", "#" or "@".
      .replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s"'<>]*@/g, `$1${REDACTED}@`)
      // user:password@host without a scheme.
      .replace(/(^|[\s"'(=])[^\s"'/:@()=]+:(?!\/\/)[^\s"'@]*@(?=[A-Za-z0-9[])/g, `$1${REDACTED}@`)
      .replace(/([?&;])([^=&;#\s"']+)=([^&;#\s"']*)/g, (whole, separator: string, name: string) =>
        SECRET_PARAMETER.test(name) ? `${separator}${name}=${REDACTED}` : whole,
      )
      // An Authorization header's credentials; not the words of "Basic authentication".
      .replace(/\b(Bearer|Basic) +([A-Za-z0-9._~+/-]+=*)/g, (whole, scheme: string, credential: string) =>
        /^[a-z]+$/.test(credential) || credential === REDACTED ? whole : `${scheme} ${REDACTED}`,
      )
  );
}
