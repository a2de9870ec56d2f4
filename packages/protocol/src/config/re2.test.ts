import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Re2SyntaxError, re2ToRegExp } from './re2.ts';

/**
 * Go's own answers (scripts/re2-golden, go run against re2-cases.json): for each pattern, Go's
 * compile error, or whether each input matches. Regenerate after editing the cases.
 */
const golden = JSON.parse(readFileSync(new URL('./re2-golden.json', import.meta.url), 'utf8')) as {
  go: string;
  answers: { pattern: string; error?: string; inputs: string[]; matches: boolean[] }[];
};
const cases = JSON.parse(readFileSync(new URL('./re2-cases.json', import.meta.url), 'utf8')) as {
  pattern: string;
  inputs: string[];
}[];

describe('re2ToRegExp, against Go regexp', () => {
  it('has an answer from Go for every case (re2-golden.json is current)', () => {
    expect(golden.answers.map((a) => [a.pattern, a.inputs])).toEqual(cases.map((c) => [c.pattern, c.inputs]));
    expect(golden.go).toMatch(/^go1\./);
  });

  const refused = golden.answers.filter((a) => a.error !== undefined);
  const accepted = golden.answers.filter((a) => a.error === undefined);

  it.each(refused.map((a) => [a.pattern, a.error]))('refuses %j as Go does (%s)', (pattern) => {
    expect(() => re2ToRegExp(pattern ?? '')).toThrow(Re2SyntaxError);
  });

  it.each(accepted.map((a) => [a.pattern, a]))(
    'matches %j where Go matches, and nowhere else',
    (_p, answer) => {
      const re = re2ToRegExp(answer.pattern);
      const got = answer.inputs.map((input) => re.test(input));
      const differ = answer.inputs.filter((_, i) => got[i] !== answer.matches[i]);
      expect(differ, `source ${re.source}`).toEqual([]);
    },
  );

  it('gives a RegExp safe to reuse: no global or sticky state', () => {
    const re = re2ToRegExp('(?i)kube');
    expect(re.flags).toBe('u');
    expect([re.test('Kube'), re.test('Kube')]).toEqual([true, true]);
  });

  it('names what it refuses the way Go does', () => {
    expect(() => re2ToRegExp('(?=x)')).toThrow('invalid or unsupported Perl syntax: `(?=`');
    expect(() => re2ToRegExp('\\1')).toThrow('invalid escape sequence: `\\1`');
    expect(() => re2ToRegExp('a{1001}')).toThrow('invalid repeat count: `{1001}`');
    expect(() => re2ToRegExp('(abc')).toThrow('missing closing )');
  });
});
