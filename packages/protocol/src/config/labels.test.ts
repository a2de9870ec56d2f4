import { describe, expect, it } from 'vitest';
import {
  formatLabelSelector,
  isLabelKey,
  isLabelValue,
  type LabelSelector,
  labelKeyProblem,
  labelPair,
  labelSelector,
  matchesLabelSelector,
  nonEmptyLabelSelector,
  parseLabelPair,
  parseLabelSelector,
  parseTaint,
  taint,
} from './labels.ts';
import { detailOf, run } from './test-support.ts';

describe('label keys and values', () => {
  it.each([
    ['app', true],
    ['app.kubernetes.io/name', true],
    ['topology.kubernetes.io/zone', true],
    ['baton.dev/opt-out', true],
    ['A_b.c-D', true],
    ['a'.repeat(63), true],
    [`${'p'.repeat(253)}/name`, true],
    ['a'.repeat(64), false],
    [`${'p'.repeat(254)}/name`, false],
    ['', false],
    ['/name', false],
    ['prefix/', false],
    ['Prefix.io/name', false],
    ['a/b/c', false],
    ['-app', false],
    ['app-', false],
    ['ap p', false],
    ['app=', false],
  ])('key %j valid: %j', (key, valid) => {
    expect(isLabelKey(key)).toBe(valid);
  });

  it('says what is wrong with a key', () => {
    expect(labelKeyProblem('a/b/c')).toBe('key "a/b/c" has more than one "/"');
    expect(labelKeyProblem('Example.com/x')).toContain('key prefix "Example.com" is not a DNS subdomain');
    expect(labelKeyProblem('example.com/')).toBe('key "example.com/" has an empty name');
    expect(labelKeyProblem('x'.repeat(64))).toContain('is longer than 63 characters');
    expect(labelKeyProblem('-x')).toContain('must be letters, digits');
  });

  it.each([
    ['', true],
    ['v1', true],
    ['1.2.3', true],
    ['a_b-c.d', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['-v', false],
    ['v.', false],
    ['a b', false],
    ['a/b', false],
  ])('value %j valid: %j', (value, valid) => {
    expect(isLabelValue(value)).toBe(valid);
  });
});

describe('parseLabelSelector', () => {
  it.each<[string, LabelSelector]>([
    ['', []],
    ['   ', []],
    ['app=web', [{ key: 'app', operator: 'In', values: ['web'] }]],
    ['app==web', [{ key: 'app', operator: 'In', values: ['web'] }]],
    ['app!=web', [{ key: 'app', operator: 'NotIn', values: ['web'] }]],
    ['app=', [{ key: 'app', operator: 'In', values: [''] }]],
    ['app!=', [{ key: 'app', operator: 'NotIn', values: [''] }]],
    ['app==', [{ key: 'app', operator: 'In', values: [''] }]],
    ['app in (web,api)', [{ key: 'app', operator: 'In', values: ['api', 'web'] }]],
    ['app in (web, api, web)', [{ key: 'app', operator: 'In', values: ['api', 'web'] }]],
    ['app in(web)', [{ key: 'app', operator: 'In', values: ['web'] }]],
    ['app notin (cache)', [{ key: 'app', operator: 'NotIn', values: ['cache'] }]],
    ['app', [{ key: 'app', operator: 'Exists', values: [] }]],
    ['!app', [{ key: 'app', operator: 'DoesNotExist', values: [] }]],
    ['! app', [{ key: 'app', operator: 'DoesNotExist', values: [] }]],
    [
      'app=web,tier!=cache',
      [
        { key: 'app', operator: 'In', values: ['web'] },
        { key: 'tier', operator: 'NotIn', values: ['cache'] },
      ],
    ],
    [
      ' app = web , !legacy , example.com/backup-running ',
      [
        { key: 'app', operator: 'In', values: ['web'] },
        { key: 'legacy', operator: 'DoesNotExist', values: [] },
        { key: 'example.com/backup-running', operator: 'Exists', values: [] },
      ],
    ],
    [
      'a=,b=c',
      [
        { key: 'a', operator: 'In', values: [''] },
        { key: 'b', operator: 'In', values: ['c'] },
      ],
    ],
    [
      'env in (prod,staging),tier notin (cache),critical',
      [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'tier', operator: 'NotIn', values: ['cache'] },
        { key: 'critical', operator: 'Exists', values: [] },
      ],
    ],
  ])('%j', (text, selector) => {
    expect(parseLabelSelector(text)).toEqual(selector);
  });

  it.each([
    ['app=web,', 'it ends with ","'],
    [',app', 'expected a label key, found ","'],
    ['app=web tier=x', 'expected "," or the end, found "tier"'],
    ['app in (web', 'expected "," or ")" in the value list, found the end'],
    ['app in web', 'expected "(" after in/notin'],
    ['app in ()', 'expected a value in the list, found ")"'],
    ['app in (a,)', 'expected a value in the list, found ")"'],
    ['app in (a b)', 'expected "," or ")" in the value list, found "b"'],
    ['app web', 'after "app" expected =, ==, !=, in, notin, "," or the end, found "web"'],
    ['app=w=x', 'expected "," or the end, found "="'],
    ['app>5', '">" is not supported; use =, ==, !=, in, notin, key or !key'],
    ['app<5', '"<" is not supported; use =, ==, !=, in, notin, key or !key'],
    ['!', 'expected a label key, found the end'],
    ['!app=x', 'expected "," or the end, found "="'],
    ['=web', 'expected a label key, found "="'],
    ['Bad.Prefix/app=web', 'key prefix "Bad.Prefix" is not a DNS subdomain'],
    [
      'app=-web',
      'value "-web" must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    ],
    [`app=${'v'.repeat(64)}`, `value "${'v'.repeat(64)}" is longer than 63 characters`],
    ['a/b/c', 'key "a/b/c" has more than one "/"'],
  ])('%j is refused: %j', (text, detail) => {
    expect(detailOf(() => parseLabelSelector(text))).toContain(detail);
  });

  it('refuses the empty selector where it would block every reboot', () => {
    expect(run(labelSelector, '')).toEqual({ ok: true, value: [] });
    expect(run(nonEmptyLabelSelector, '')).toEqual({
      ok: false,
      detail: 'an empty selector matches every pod',
    });
    expect(nonEmptyLabelSelector.expected).toContain('app=web');
  });
});

describe('matchesLabelSelector', () => {
  const labels = { app: 'web', tier: 'frontend', empty: '' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app=api', false],
    ['app!=api', true],
    ['app!=web', false],
    ['missing!=x', true],
    ['missing=x', false],
    ['app in (api,web)', true],
    ['app in (api)', false],
    ['missing in (x)', false],
    ['app notin (api)', true],
    ['app notin (web)', false],
    ['missing notin (x)', true],
    ['app', true],
    ['missing', false],
    ['!app', false],
    ['!missing', true],
    ['empty', true],
    ['empty=', true],
    ['empty!=', false],
    ['missing=', false],
    ['app=web,tier=frontend', true],
    ['app=web,tier=backend', false],
    ['toString', false],
    ['!constructor', true],
  ])('%j matches: %j', (text, matches) => {
    expect(matchesLabelSelector(parseLabelSelector(text), labels)).toBe(matches);
  });
});

describe('formatLabelSelector', () => {
  it.each([
    ['', ''],
    ['app=web', 'app=web'],
    ['app==web', 'app=web'],
    ['app in (web)', 'app=web'],
    ['app notin (web)', 'app!=web'],
    ['app in (web, api)', 'app in (api,web)'],
    ['app notin (b,a,b)', 'app notin (a,b)'],
    ['tier!=cache,app=web', 'app=web,tier!=cache'],
    [' !legacy , app ', 'app,!legacy'],
    ['a=', 'a='],
    ['z,a=1,m in (x,y)', 'a=1,m in (x,y),z'],
  ])('%j → %j', (text, canonical) => {
    const formatted = formatLabelSelector(parseLabelSelector(text));
    expect(formatted).toBe(canonical);
    // The canonical text parses to the same requirements (order aside).
    expect(formatLabelSelector(parseLabelSelector(formatted))).toBe(canonical);
  });

  it('keeps requirements on the same key in their order', () => {
    expect(formatLabelSelector(parseLabelSelector('a!=2,b,a!=1'))).toBe('a!=2,a!=1,b');
  });

  it('refuses a hand-built In without values', () => {
    expect(() => formatLabelSelector([{ key: 'a', operator: 'In', values: [] }])).toThrow(RangeError);
  });
});

describe('label pairs', () => {
  it.each([
    ['a=b', { key: 'a', value: 'b' }],
    ['example.com/rebooting=true', { key: 'example.com/rebooting', value: 'true' }],
    ['a=', { key: 'a', value: '' }],
  ])('%j', (text, pair) => {
    expect(parseLabelPair(text)).toEqual(pair);
  });

  it.each([
    ['a', '"=" is missing between key and value'],
    ['', '"=" is missing between key and value'],
    ['=b', 'key "" has an empty name'],
    ['a=b=c', 'value "b=c" must be letters'],
    ['a b=c', 'key name "a b" must be letters'],
  ])('%j is refused: %j', (text, detail) => {
    const result = run(labelPair, text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain(detail);
  });
});

describe('taints', () => {
  it.each([
    [
      'example.com/rebooting=true:NoSchedule',
      { key: 'example.com/rebooting', value: 'true', effect: 'NoSchedule' },
    ],
    [
      'example.com/rebooting:PreferNoSchedule',
      { key: 'example.com/rebooting', value: '', effect: 'PreferNoSchedule' },
    ],
    ['dedicated=:NoExecute', { key: 'dedicated', value: '', effect: 'NoExecute' }],
  ])('%j', (text, value) => {
    expect(parseTaint(text)).toEqual(value);
  });

  it.each([
    ['example.com/rebooting', 'the ":Effect" part is missing'],
    ['a=b:noschedule', 'effect "noschedule" is not one of NoSchedule, PreferNoSchedule, NoExecute'],
    ['a=b:', 'effect "" is not one of'],
    [':NoSchedule', 'key "" has an empty name'],
    ['a=b c:NoSchedule', 'value "b c" must be letters'],
  ])('%j is refused: %j', (text, detail) => {
    const result = run(taint, text);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain(detail);
  });
});
