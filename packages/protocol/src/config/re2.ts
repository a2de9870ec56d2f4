/**
 * Go's regular expressions (RE2 syntax: kured's `--alert-filter-regexp`, Prometheus' `=~`
 * matchers) as JavaScript RegExps that mean the same, so a pattern copied from kured matches the
 * same alert names here. JavaScript differs where it matters: Go's flags `(?i)`, `(?s)`, `(?m)`
 * may appear anywhere and last to the end of their group; `.` excludes only `\n` (JavaScript
 * also excludes `\r`, U+2028 and U+2029); `\s` is `[\t\n\f\r ]` (JavaScript adds `\v` and
 * Unicode spaces); with `(?m)` only `\n` ends a line; `\A`, `\z`, `\Q…\E`, `[[:alpha:]]`, `\pL`,
 * `\x{…}` and octal escapes exist; a `]` first in a class and a `{` that starts no repetition are
 * literal. What RE2 refuses (lookaround, backreferences, `\k`, repeat counts above 1000, `(?U)`)
 * is refused here too, with RE2's reason.
 *
 * The translation keeps no JavaScript flag but `u` (code points, like Go's runes); case folding
 * is done with JavaScript's group modifiers `(?i:…)`, everything else by rewriting.
 * re2.test.ts checks it against a table of patterns and inputs that Go's regexp package answered
 * (scripts/re2-golden/main.go).
 */

export class Re2SyntaxError extends Error {
  override readonly name = 'Re2SyntaxError';
}

type Ranges = readonly (readonly [number, number])[];

const MAX_CODE_POINT = 0x10ffff;
const MAX_REPEAT = 1000;

const PERL: Readonly<Record<string, Ranges>> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX: Readonly<Record<string, Ranges>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: PERL.w ?? [],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

/** Unicode general categories: `\p{L}` in JavaScript; any other name is a script (`\p{Script=Greek}`). */
const GENERAL_CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(
    ' ',
  ),
);

function complement(ranges: Ranges): Ranges {
  const out: [number, number][] = [];
  let next = 0;
  for (const [lo, hi] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

/** One code point as JavaScript (u mode) reads it literally, inside or outside a class. */
function literal(cp: number): string {
  const isWordChar =
    (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f;
  if (isWordChar || (cp > 0x7f && cp !== 0x2028 && cp !== 0x2029)) return String.fromCodePoint(cp);
  return `\\u{${cp.toString(16)}}`;
}

const rangeText = (ranges: Ranges) =>
  ranges.map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`)).join('');

const isHex = (c: string | undefined) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
const isOctal = (c: string | undefined) => c !== undefined && c >= '0' && c <= '7';

interface Group {
  /** Case folding and the flags translated by rewriting, as they stand now in this group. */
  i: boolean;
  m: boolean;
  s: boolean;
  /** Ungreedy: `*` means `*?` and `*?` means `*`. */
  U: boolean;
  /** Case folding when the group opened: after `|` a changed state is wrapped again. */
  readonly openedI: boolean;
  /** `(?i:` wrappers opened by a `(?i)` inside this group, closed at `|` and at its end. */
  wraps: number;
}

type Flags = Pick<Group, 'i' | 'm' | 's' | 'U'>;

/** A class item: ranges, or a Unicode property written as JavaScript writes it. */
type ClassItem = { readonly ranges: Ranges } | { readonly property: string };

class Translator {
  readonly #chars: readonly string[];
  readonly #pattern: string;
  #pos = 0;
  #out = '';
  readonly #groups: Group[] = [{ i: false, m: false, s: false, U: false, openedI: false, wraps: 0 }];
  /** Whether the last thing written can take a repetition operator. */
  #repeatable = false;

  constructor(pattern: string) {
    this.#pattern = pattern;
    this.#chars = Array.from(pattern);
  }

  #fail(why: string, at?: string): never {
    throw new Re2SyntaxError(at === undefined ? why : `${why}: \`${at}\``);
  }

  get #group(): Group {
    const g = this.#groups.at(-1);
    if (g === undefined) this.#fail('unexpected )');
    return g;
  }

  #peek(offset = 0): string | undefined {
    return this.#chars[this.#pos + offset];
  }

  #rest(): string {
    return this.#chars.slice(this.#pos).join('');
  }

  #emitAtom(text: string): void {
    this.#out += text;
    this.#repeatable = true;
  }

  translate(): string {
    while (this.#pos < this.#chars.length) this.#step();
    if (this.#groups.length > 1) this.#fail('missing closing )', this.#pattern);
    this.#closeWraps(this.#group);
    return this.#out;
  }

  #closeWraps(g: Group): void {
    this.#out += ')'.repeat(g.wraps);
    g.wraps = 0;
  }

  #step(): void {
    const c = this.#peek() ?? '';
    switch (c) {
      case '(':
        this.#openGroup();
        return;
      case ')': {
        if (this.#groups.length === 1) this.#fail('unexpected )', this.#pattern);
        const g = this.#group;
        this.#closeWraps(g);
        this.#groups.pop();
        this.#pos++;
        this.#emitAtom(')');
        return;
      }
      case '|': {
        const g = this.#group;
        this.#closeWraps(g);
        this.#out += '|';
        this.#pos++;
        if (g.i !== g.openedI) this.#wrap(g);
        this.#repeatable = false;
        return;
      }
      case '.':
        this.#pos++;
        this.#emitAtom(this.#group.s ? '[\\s\\S]' : '[^\\n]');
        return;
      // Assertions go in a group: RE2 lets them take a repetition (`^*`), JavaScript only a group.
      case '^':
        this.#pos++;
        this.#emitAtom(this.#group.m ? '(?<![^\\n])' : '(?:^)');
        return;
      case '$':
        this.#pos++;
        this.#emitAtom(this.#group.m ? '(?![^\\n])' : '(?:$)');
        return;
      case '[':
        this.#emitAtom(this.#charClass());
        return;
      case '\\':
        this.#escape();
        return;
      case '*':
      case '+':
      case '?':
        this.#repeat(c);
        return;
      case '{':
        this.#brace();
        return;
      default:
        this.#pos++;
        this.#emitAtom(literal(c.codePointAt(0) ?? 0));
        return;
    }
  }

  #wrap(g: Group): void {
    this.#out += g.i ? '(?i:' : '(?-i:';
    g.wraps++;
  }

  #repeat(op: string): void {
    if (!this.#repeatable) this.#fail('missing argument to repetition operator', op);
    this.#pos++;
    let text = op;
    if (this.#peek() === '?') {
      text += '?';
      this.#pos++;
    }
    this.#out += this.#greed(text, op);
    this.#repeatable = false;
    const next = this.#peek();
    if (next === '*' || next === '+' || next === '?')
      this.#fail('invalid nested repetition operator', text + next);
    if (next === '{' && /^\{\d+(,\d*)?\}/.test(this.#rest())) {
      this.#fail(
        'invalid nested repetition operator',
        text + (/^\{\d+(,\d*)?\}/.exec(this.#rest())?.[0] ?? ''),
      );
    }
  }

  /** `{n}`, `{n,}` or `{n,m}` repeats; any other `{` is a literal brace, as in RE2. */
  #brace(): void {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#rest());
    if (m === null) {
      this.#pos++;
      this.#emitAtom(literal(0x7b));
      return;
    }
    const [text, lowText = '', comma, highText] = m;
    if (!this.#repeatable) this.#fail('missing argument to repetition operator', text);
    const low = Number(lowText);
    const high =
      comma === undefined ? low : highText === '' || highText === undefined ? undefined : Number(highText);
    if (low > MAX_REPEAT || (high !== undefined && (high > MAX_REPEAT || high < low))) {
      this.#fail('invalid repeat count', text);
    }
    this.#pos += Array.from(text).length;
    let lazy = false;
    if (this.#peek() === '?') {
      lazy = true;
      this.#pos++;
    }
    this.#out += this.#greed(lazy ? `${text}?` : text, text);
    this.#repeatable = false;
    const next = this.#peek();
    if (next === '*' || next === '+' || next === '?')
      this.#fail('invalid nested repetition operator', text + next);
  }

  /** `written` (the operator as written, maybe with `?`) as JavaScript reads it under (?U). */
  #greed(written: string, operator: string): string {
    if (!this.#group.U) return written;
    return written === operator ? `${operator}?` : operator;
  }

  #openGroup(): void {
    const rest = this.#rest();
    const parent = this.#group;
    const open = (prefix: string, flags: Flags, length: number) => {
      this.#pos += length;
      this.#out += prefix;
      this.#groups.push({ ...flags, openedI: flags.i, wraps: 0 });
      this.#repeatable = false;
    };
    if (!rest.startsWith('(?')) {
      open('(', parent, 1);
      return;
    }
    const named = /^\(\?P?<([A-Za-z0-9_]+)>/.exec(rest);
    if (named !== null) {
      open('(', parent, Array.from(named[0]).length);
      return;
    }
    if (/^\(\?P?</.test(rest)) {
      if (/^\(\?<[=!]/.test(rest)) this.#fail('invalid or unsupported Perl syntax', rest.slice(0, 4));
      this.#fail('invalid named capture', rest.slice(0, Math.max(rest.indexOf('>') + 1, 4)));
    }
    const flags = /^\(\?([a-zA-Z-]*)([:)])/.exec(rest);
    if (flags === null) this.#fail('invalid or unsupported Perl syntax', rest.slice(0, 3));
    const [text, spec = '', end] = flags;
    const next = this.#flags(spec, parent, text);
    if (end === ':') {
      const prefix = next.i === parent.i ? '(?:' : next.i ? '(?i:' : '(?-i:';
      open(prefix, next, text.length);
      return;
    }
    // `(?flags)`: the rest of this group, across `|`, until its `)`.
    this.#pos += text.length;
    const changedI = next.i !== parent.i;
    parent.i = next.i;
    parent.m = next.m;
    parent.s = next.s;
    parent.U = next.U;
    if (changedI) this.#wrap(parent);
    this.#repeatable = false;
  }

  /** RE2's flag syntax: `imsU` set, after `-` cleared; `-` at most once and not last. */
  #flags(spec: string, current: Flags, text: string): Flags {
    const next = { i: current.i, m: current.m, s: current.s, U: current.U };
    let clear = false;
    let any = false;
    for (const f of spec) {
      if (f === '-') {
        if (clear) this.#fail('invalid or unsupported Perl syntax', text);
        clear = true;
        any = false;
        continue;
      }
      if (f !== 'i' && f !== 'm' && f !== 's' && f !== 'U')
        this.#fail('invalid or unsupported Perl syntax', text);
      next[f] = !clear;
      any = true;
    }
    if (clear && !any) this.#fail('invalid or unsupported Perl syntax', text);
    return next;
  }

  /** After a backslash, outside a class. */
  #escape(): void {
    const c = this.#peek(1);
    if (c === undefined) this.#fail('trailing backslash at end of expression');
    switch (c) {
      case 'A':
        this.#pos += 2;
        this.#emitAtom('(?:^)');
        return;
      case 'z':
        this.#pos += 2;
        this.#emitAtom('(?:$)');
        return;
      case 'b':
      case 'B':
        this.#pos += 2;
        this.#emitAtom(`(?:\\${c})`);
        return;
      case 'Q': {
        this.#pos += 2;
        const end = this.#rest().indexOf('\\E');
        const quoted = end < 0 ? this.#rest() : this.#rest().slice(0, end);
        this.#pos += Array.from(quoted).length + (end < 0 ? 0 : 2);
        for (const q of quoted) this.#emitAtom(literal(q.codePointAt(0) ?? 0));
        return;
      }
      default: {
        const item = this.#classEscape();
        this.#emitAtom('property' in item ? item.property : `[${rangeText(item.ranges)}]`);
      }
    }
  }

  /**
   * An escape that stands for a set (`\d`, `\pL`) or one character (`\n`, `\x41`, `\.`), inside
   * a class or out; `#pos` is at the backslash.
   */
  #classEscape(): ClassItem {
    const c = this.#peek(1) ?? '';
    const start = this.#pos;
    this.#pos += 2;
    const one = (cp: number): ClassItem => ({ ranges: [[cp, cp]] });
    const lower = c.toLowerCase();
    if (lower === 'd' || lower === 's' || lower === 'w') {
      const ranges = PERL[lower] ?? [];
      return { ranges: c === lower ? ranges : complement(ranges) };
    }
    if (c === 'p' || c === 'P') return this.#property(c === 'P', start);
    const simple: Record<string, number> = { a: 0x07, f: 0x0c, t: 0x09, n: 0x0a, r: 0x0d, v: 0x0b };
    if (simple[c] !== undefined) return one(simple[c]);
    if (c === 'x') {
      if (this.#peek() === '{') {
        const m = /^\{([0-9a-fA-F]+)\}/.exec(this.#rest());
        const cp = m === null ? Number.NaN : Number.parseInt(m[1] ?? '', 16);
        if (m === null || !(cp <= MAX_CODE_POINT))
          this.#fail('invalid escape sequence', `\\x${this.#rest().slice(0, 10)}`);
        this.#pos += m[0].length;
        return one(cp);
      }
      if (!isHex(this.#peek()) || !isHex(this.#peek(1)))
        this.#fail('invalid escape sequence', `\\x${this.#rest().slice(0, 2)}`);
      const cp = Number.parseInt(`${this.#peek()}${this.#peek(1)}`, 16);
      this.#pos += 2;
      return one(cp);
    }
    if (c >= '1' && c <= '7' && !isOctal(this.#peek())) this.#fail('invalid escape sequence', `\\${c}`);
    if (c >= '0' && c <= '7') {
      let digits = c;
      while (digits.length < 3 && isOctal(this.#peek())) {
        digits += this.#peek();
        this.#pos++;
      }
      return one(Number.parseInt(digits, 8));
    }
    const cp = c.codePointAt(0) ?? 0;
    // Any ASCII punctuation escaped stands for itself; letters and digits are not free escapes.
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(c)) return one(cp);
    this.#fail('invalid escape sequence', `\\${c}`);
  }

  /** `\pL`, `\p{Greek}`, `\p{^Greek}`, `\PL`; `#pos` is after the `p`. */
  #property(negated: boolean, start: number): ClassItem {
    let name: string;
    if (this.#peek() === '{') {
      const m = /^\{(\^?)([A-Za-z_]+)\}/.exec(this.#rest());
      if (m === null)
        this.#fail('invalid character class range', this.#chars.slice(start, this.#pos + 8).join(''));
      this.#pos += m[0].length;
      if (m[1] === '^') negated = !negated;
      name = m[2] ?? '';
    } else {
      name = this.#peek() ?? '';
      if (!/^[A-Za-z]$/.test(name))
        this.#fail('invalid character class range', this.#chars.slice(start, this.#pos + 1).join(''));
      this.#pos++;
    }
    const p = negated ? 'P' : 'p';
    if (name.toLowerCase() === 'any') return { ranges: negated ? [] : [[0, MAX_CODE_POINT]] };
    // Go finds the name whatever its case; JavaScript wants the canonical one.
    const category = [...GENERAL_CATEGORIES].find((g) => g.toLowerCase() === name.toLowerCase());
    const titled = name
      .split('_')
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
      .join('_');
    const candidates =
      category !== undefined
        ? [`\\${p}{${category}}`]
        : [`\\${p}{Script=${name}}`, `\\${p}{Script=${titled}}`];
    for (const js of candidates) {
      try {
        new RegExp(js, 'u');
        return { property: js };
      } catch {
        // the next spelling
      }
    }
    this.#fail('invalid character class range', this.#chars.slice(start, this.#pos).join(''));
  }

  /** A bracketed class, `#pos` at `[`; returns its JavaScript text. */
  #charClass(): string {
    const start = this.#pos;
    this.#pos++;
    let negated = false;
    if (this.#peek() === '^') {
      negated = true;
      this.#pos++;
    }
    const items: ClassItem[] = [];
    let first = true;
    for (;;) {
      const c = this.#peek();
      if (c === undefined) this.#fail('missing closing ]', this.#chars.slice(start).join(''));
      if (c === ']' && !first) {
        this.#pos++;
        break;
      }
      first = false;
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(this.#rest());
      if (posix !== null) {
        const ranges = POSIX[posix[2] ?? ''];
        if (ranges === undefined) this.#fail('invalid character class range', posix[0]);
        this.#pos += posix[0].length;
        items.push({ ranges: posix[1] === '^' ? complement(ranges) : ranges });
        continue;
      }
      const low = this.#classAtom();
      // A range needs one character each side: after `\d` a `-` is itself (RE2).
      if (
        this.#peek() === '-' &&
        this.#peek(1) !== ']' &&
        this.#peek(1) !== undefined &&
        single(low) !== undefined
      ) {
        const at = this.#pos;
        this.#pos++;
        const high = this.#classAtom();
        const lo = single(low);
        const hi = single(high);
        if (lo === undefined || hi === undefined || hi < lo) {
          this.#fail('invalid character class range', this.#chars.slice(at - 1, this.#pos).join(''));
        }
        items.push({ ranges: [[lo, hi]] });
        continue;
      }
      items.push(low);
    }
    const ranges = items.flatMap((it) => ('ranges' in it ? it.ranges : []));
    const properties = items.flatMap((it) => ('property' in it ? [it.property] : []));
    const body = rangeText(ranges) + properties.join('');
    // An empty class matches nothing; negated, anything.
    if (body === '') return negated ? '[\\s\\S]' : '[^\\s\\S]';
    return `[${negated ? '^' : ''}${body}]`;
  }

  #classAtom(): ClassItem {
    const c = this.#peek() ?? '';
    if (c === '\\') return this.#classEscape();
    this.#pos++;
    const cp = c.codePointAt(0) ?? 0;
    return { ranges: [[cp, cp]] };
  }
}

function single(item: ClassItem): number | undefined {
  if (!('ranges' in item) || item.ranges.length !== 1) return undefined;
  const [range] = item.ranges;
  return range !== undefined && range[0] === range[1] ? range[0] : undefined;
}

/** A Go (RE2) pattern as a JavaScript RegExp of the same meaning; throws Re2SyntaxError where Go would refuse it. */
export function re2ToRegExp(pattern: string): RegExp {
  const source = new Translator(pattern).translate();
  try {
    return new RegExp(source, 'u');
  } catch (err) {
    // A translation JavaScript refuses is a pattern RE2 refuses too (an operator without operand …).
    throw new Re2SyntaxError(
      err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err),
    );
  }
}
