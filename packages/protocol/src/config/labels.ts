/**
 * Kubernetes label values: keys, values, label selectors, `key=value` pairs and taints.
 *
 * The selector grammar is the API server's (`k8s.io/apimachinery/pkg/labels`), minus the `<`/`>`
 * operators: baton parses selectors itself so that a typo stops the process at start instead of
 * failing every List call, and so the controller can match pods it already has in its informer
 * cache. {@link formatLabelSelector} renders the canonical text that is sent to the API server.
 */
import { InvalidValueError, isDnsSubdomain, type ValueType, valueType } from './values.ts';

/** The name part of a key, and every value: alphanumeric at both ends, `-_.` inside. */
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is not a valid label key, or `undefined` if it is. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `key "${key}" has more than one "/"`;
  const name = parts.at(-1) ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (!isDnsSubdomain(prefix)) {
      return `key prefix "${prefix}" is not a DNS subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)`;
    }
  }
  if (name === '') return `key "${key}" has an empty name`;
  if (name.length > 63) return `key name "${name}" is longer than 63 characters`;
  if (!NAME.test(name)) {
    return `key name "${name}" must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or `undefined` if it is (the empty value is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63) return `value "${value}" is longer than 63 characters`;
  if (!NAME.test(value)) {
    return `value "${value}" must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;
  }
  return undefined;
}

export function isLabelKey(key: string): boolean {
  return labelKeyProblem(key) === undefined;
}

export function isLabelValue(value: string): boolean {
  return labelValueProblem(value) === undefined;
}

export const labelKey: ValueType<string> = valueType(
  'a label key such as topology.kubernetes.io/zone (optional DNS prefix and "/", then a name of at most 63 characters)',
  (text) => {
    const problem = labelKeyProblem(text);
    if (problem !== undefined) throw new InvalidValueError(problem);
    return text;
  },
);

// ---------------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------------

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/** One comma-separated part of a selector. `values` is sorted and unique; empty for Exists/DoesNotExist. */
export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  readonly values: readonly string[];
}

/** All requirements must hold (comma = AND). The empty selector matches everything. */
export type LabelSelector = readonly LabelRequirement[];

type Token =
  | { readonly kind: 'word'; readonly text: string }
  | { readonly kind: '!' | '=' | '==' | '!=' | ',' | '(' | ')' };

const SPECIAL = new Set(['!', '=', ',', '(', ')', '<', '>']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    const next = text.charAt(i + 1);
    if (/\s/.test(c)) {
      i++;
    } else if (c === '!' || c === '=') {
      if (next === '=') {
        tokens.push({ kind: c === '!' ? '!=' : '==' });
        i += 2;
      } else {
        tokens.push({ kind: c });
        i++;
      }
    } else if (c === ',' || c === '(' || c === ')') {
      tokens.push({ kind: c });
      i++;
    } else if (c === '<' || c === '>') {
      throw new InvalidValueError(`"${c}" is not supported; use =, ==, !=, in, notin, key or !key`);
    } else {
      let end = i;
      while (end < text.length && !SPECIAL.has(text.charAt(end)) && !/\s/.test(text.charAt(end))) end++;
      tokens.push({ kind: 'word', text: text.slice(i, end) });
      i = end;
    }
  }
  return tokens;
}

function describeToken(token: Token | undefined): string {
  if (token === undefined) return 'the end';
  return token.kind === 'word' ? `"${token.text}"` : `"${token.kind}"`;
}

/**
 * Parses `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas (AND).
 * Throws {@link InvalidValueError} naming the part that is wrong.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const take = (): Token | undefined => tokens[at++];
  const fail = (what: string): never => {
    throw new InvalidValueError(what);
  };
  const word = (what: string): string => {
    const token = take();
    if (token?.kind !== 'word') return fail(`expected ${what}, found ${describeToken(token)}`);
    return token.text;
  };
  const key = (): string => {
    const k = word('a label key');
    const problem = labelKeyProblem(k);
    return problem === undefined ? k : fail(problem);
  };
  const value = (): string => {
    // `a=` and `a=,b=c` mean "label a with the empty value".
    const token = peek();
    const v = token?.kind === 'word' ? word('a value') : '';
    const problem = labelValueProblem(v);
    return problem === undefined ? v : fail(problem);
  };
  const valueList = (): string[] => {
    if (take()?.kind !== '(') fail('expected "(" after in/notin');
    const values: string[] = [];
    for (;;) {
      if (peek()?.kind !== 'word') fail(`expected a value in the list, found ${describeToken(peek())}`);
      values.push(value());
      const token = take();
      if (token?.kind === ')') return values;
      if (token?.kind !== ',') fail(`expected "," or ")" in the value list, found ${describeToken(token)}`);
    }
  };
  const requirement = (): LabelRequirement => {
    if (peek()?.kind === '!') {
      take();
      return { key: key(), operator: 'DoesNotExist', values: [] };
    }
    const k = key();
    const token = peek();
    if (token === undefined || token.kind === ',') return { key: k, operator: 'Exists', values: [] };
    take();
    if (token.kind === '=' || token.kind === '==') return { key: k, operator: 'In', values: [value()] };
    if (token.kind === '!=') return { key: k, operator: 'NotIn', values: [value()] };
    if (token.kind === 'word' && (token.text === 'in' || token.text === 'notin')) {
      return { key: k, operator: token.text === 'in' ? 'In' : 'NotIn', values: sortedUnique(valueList()) };
    }
    return fail(`after "${k}" expected =, ==, !=, in, notin, "," or the end, found ${describeToken(token)}`);
  };

  const selector: LabelRequirement[] = [];
  if (tokens.length === 0) return selector;
  for (;;) {
    selector.push(requirement());
    const token = take();
    if (token === undefined) return selector;
    if (token.kind !== ',') fail(`expected "," or the end, found ${describeToken(token)}`);
    if (peek() === undefined) fail('it ends with ","');
  }
}

function sortedUnique(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** Whether `labels` satisfy every requirement (missing labels satisfy NotIn, as in Kubernetes). */
export function matchesLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  return selector.every((requirement) => {
    const has = Object.hasOwn(labels, requirement.key);
    const value = labels[requirement.key];
    switch (requirement.operator) {
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      case 'In':
        return has && value !== undefined && requirement.values.includes(value);
      case 'NotIn':
        return !has || value === undefined || !requirement.values.includes(value);
    }
    return false;
  });
}

/**
 * Canonical text: requirements sorted by key (stable), values sorted and unique, one value
 * written `a=b` / `a!=b`, several `a in (x,y)` / `a notin (x,y)`. Parsing the result gives the
 * same selector back.
 */
export function formatLabelSelector(selector: LabelSelector): string {
  return [...selector]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((requirement) => {
      const { key, operator } = requirement;
      const values = sortedUnique(requirement.values);
      if (operator === 'Exists') return key;
      if (operator === 'DoesNotExist') return `!${key}`;
      if (values.length === 0)
        throw new RangeError(`label requirement ${operator} on "${key}" has no values`);
      if (values.length === 1) return `${key}${operator === 'In' ? '=' : '!='}${values[0]}`;
      return `${key} ${operator === 'In' ? 'in' : 'notin'} (${values.join(',')})`;
    })
    .join(',');
}

const SELECTOR_EXPECTED = 'a label selector such as app=web,tier!=cache or "app in (web,api)"';

export const labelSelector: ValueType<LabelSelector> = valueType(SELECTOR_EXPECTED, parseLabelSelector);

/** For blocking selectors: the empty selector matches every pod, so it would block every reboot. */
export const nonEmptyLabelSelector: ValueType<LabelSelector> = valueType(SELECTOR_EXPECTED, (text) => {
  const selector = parseLabelSelector(text);
  if (selector.length === 0) throw new InvalidValueError('an empty selector matches every pod');
  return selector;
});

// ---------------------------------------------------------------------------------------------
// key=value pairs and taints
// ---------------------------------------------------------------------------------------------

export interface LabelPair {
  readonly key: string;
  readonly value: string;
}

/** `key=value` (value may be empty). kured indexed past a missing `=` and panicked; this says so. */
export function parseLabelPair(text: string): LabelPair {
  const eq = text.indexOf('=');
  if (eq < 0) throw new InvalidValueError('"=" is missing between key and value');
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const problem = labelKeyProblem(key) ?? labelValueProblem(value);
  if (problem !== undefined) throw new InvalidValueError(problem);
  return { key, value };
}

export const labelPair: ValueType<LabelPair> = valueType(
  'node labels such as example.com/rebooting=true (key=value, several separated by commas)',
  parseLabelPair,
);

export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
export type TaintEffect = (typeof TAINT_EFFECTS)[number];

/** A node taint; `value` is `''` when none was given, as the API stores it. */
export interface Taint {
  readonly key: string;
  readonly value: string;
  readonly effect: TaintEffect;
}

/** `key=value:Effect` or `key:Effect`, as `kubectl taint` writes them. */
export function parseTaint(text: string): Taint {
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new InvalidValueError('the ":Effect" part is missing');
  const effect = TAINT_EFFECTS.find((e) => e === text.slice(colon + 1));
  if (effect === undefined) {
    throw new InvalidValueError(
      `effect "${text.slice(colon + 1)}" is not one of ${TAINT_EFFECTS.join(', ')}`,
    );
  }
  const body = text.slice(0, colon);
  const eq = body.indexOf('=');
  const key = eq < 0 ? body : body.slice(0, eq);
  const value = eq < 0 ? '' : body.slice(eq + 1);
  const problem = labelKeyProblem(key) ?? labelValueProblem(value);
  if (problem !== undefined) throw new InvalidValueError(problem);
  return { key, value, effect };
}

export const taint: ValueType<Taint> = valueType(
  'a taint such as example.com/rebooting=true:NoSchedule or example.com/rebooting:PreferNoSchedule (effect NoSchedule, PreferNoSchedule or NoExecute)',
  parseTaint,
);
