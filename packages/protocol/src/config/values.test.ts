import { describe, expect, it } from 'vitest';
import { run } from './test-support.ts';
import {
  alertLabelMatcher,
  boolean,
  commandLine,
  httpUrl,
  InvalidValueError,
  integer,
  isDnsLabel,
  isDnsSubdomain,
  listenHost,
  maxUnavailable,
  notifyUrl,
  oneOf,
  parseAlertLabelMatcher,
  parseInteger,
  parseRegex,
  port,
  regex,
  signalNumber,
  splitCommandLine,
  valueType,
} from './values.ts';

/** Parses with the value type's schema; returns the value or the failure's detail. */

describe('valueType', () => {
  it('turns InvalidValueError into a zod issue and keeps the exact detail', () => {
    const even = valueType('an even number', (text) => {
      if (Number(text) % 2 !== 0) throw new InvalidValueError(text === '3' ? 'three is odd' : '');
      return Number(text);
    });
    expect(run(even, '4')).toEqual({ ok: true, value: 4 });
    expect(run(even, '3')).toEqual({ ok: false, detail: 'three is odd' });
    // An empty reason stays empty (zod alone would say "Invalid input").
    expect(run(even, '5')).toEqual({ ok: false, detail: '' });
    const result = even.schema.safeParse('5');
    expect(result.error?.issues[0]?.message).toBe('expected an even number');
  });

  it('lets other exceptions through: they are bugs, not bad input', () => {
    const broken = valueType('anything', () => {
      throw new TypeError('bug');
    });
    expect(() => broken.schema.safeParse('x')).toThrow(TypeError);
  });
});

describe('integers', () => {
  it.each([
    ['0', 0],
    ['7', 7],
    ['-1', -1],
    ['-0', 0],
    ['0012', 12],
  ])('parseInteger(%j) = %j', (text, value) => {
    expect(parseInteger(text)).toBe(value);
  });

  it.each(['', ' 1', '1 ', '+1', '1.0', '1e3', '0x10', 'one', '99999999999999999999'])(
    'parseInteger(%j) throws',
    (text) => {
      expect(() => parseInteger(text)).toThrow(InvalidValueError);
    },
  );

  it('checks the range and says why for negatives', () => {
    const atLeastOne = integer({ min: 1, max: 1000 });
    expect(atLeastOne.expected).toBe('an integer from 1 to 1000');
    expect(atLeastOne.bounds).toEqual({ min: 1, max: 1000, maxText: '1000', unit: 'count' });
    expect(run(atLeastOne, '1')).toEqual({ ok: true, value: 1 });
    expect(run(atLeastOne, '0')).toEqual({ ok: false, detail: '' });
    expect(run(atLeastOne, '-3')).toEqual({ ok: false, detail: 'negative values are not allowed here' });
    expect(run(atLeastOne, '1000')).toEqual({ ok: true, value: 1000 });
    expect(run(atLeastOne, '1001')).toEqual({ ok: false, detail: 'more than 1000' });
    expect(run(atLeastOne, '1e9')).toEqual({ ok: false, detail: '' });
    const fromMinusOne = integer({ min: -1, max: 9 });
    expect(run(fromMinusOne, '-1')).toEqual({ ok: true, value: -1 });
    expect(run(fromMinusOne, '-2')).toEqual({ ok: false, detail: '' });
    expect(integer({ min: 0, max: 9 }).expected).toBe('an integer from 0 to 9');
  });

  it.each([
    [port, '1', true],
    [port, '65535', true],
    [port, '0', false],
    [port, '65536', false],
    [signalNumber, '1', true],
    [signalNumber, '39', true],
    [signalNumber, '64', true],
    [signalNumber, '0', false],
    [signalNumber, '65', false],
    [signalNumber, 'SIGTERM', false],
  ] as const)('%#: %j accepted: %j', (type, text, ok) => {
    expect(run(type, text).ok).toBe(ok);
  });
});

describe('maxUnavailable', () => {
  it.each([
    ['0', { kind: 'count', value: 0 }],
    ['3', { kind: 'count', value: 3 }],
    ['0%', { kind: 'percent', value: 0 }],
    ['25%', { kind: 'percent', value: 25 }],
    ['100%', { kind: 'percent', value: 100 }],
    ['100000', { kind: 'count', value: 100_000 }],
  ])('%j', (text, value) => {
    expect(run(maxUnavailable, text)).toEqual({ ok: true, value });
  });

  it.each([
    ['101%', 'a percentage cannot exceed 100%'],
    ['-1', 'negative values are not allowed here'],
    ['100001', 'more than 100000'],
    ['-5%', ''],
    ['1.5%', ''],
    ['%', ''],
    ['', ''],
  ])('%j is refused', (text, detail) => {
    expect(run(maxUnavailable, text)).toEqual({ ok: false, detail });
  });
});

describe('boolean', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['Yes', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['no', false],
  ])('%j = %j', (text, value) => {
    expect(run(boolean, text)).toEqual({ ok: true, value });
  });

  it.each(['', 'y', 'n', 't', 'on', 'off', '2'])('%j is refused', (text) => {
    expect(run(boolean, text).ok).toBe(false);
  });
});

describe('oneOf', () => {
  it('accepts exactly the choices and names them', () => {
    const two = oneOf(['text', 'json']);
    const three = oneOf(['a', 'b', 'c']);
    expect(two.expected).toBe('text or json');
    expect(three.expected).toBe('one of a, b or c');
    expect(run(two, 'json')).toEqual({ ok: true, value: 'json' });
    expect(run(two, 'yaml')).toEqual({ ok: false, detail: '' });
    expect(run(two, 'JSON')).toEqual({ ok: false, detail: 'write it in lower case: json' });
  });
});

describe('names', () => {
  it.each([
    ['a', true, true],
    ['node-1', true, true],
    ['ip-10-0-0-1.ec2.internal', false, true],
    ['Node', false, false],
    ['-a', false, false],
    ['a-', false, false],
    ['a..b', false, false],
    ['', false, false],
    ['a'.repeat(63), true, true],
    ['a'.repeat(64), false, true],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, false, true],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, false, false],
  ])('%j: label %j, subdomain %j', (text, label, subdomain) => {
    expect(isDnsLabel(text)).toBe(label);
    expect(isDnsSubdomain(text)).toBe(subdomain);
  });

  it.each([
    ['0.0.0.0', true],
    ['::', true],
    ['127.0.0.1', true],
    ['fe80::1%eth0', true],
    ['localhost', true],
    ['', false],
    ['http://0.0.0.0', false],
    ['0.0.0.0:8080', false],
    ['a b', false],
  ])('listen host %j accepted: %j', (text, ok) => {
    expect(run(listenHost, text).ok).toBe(ok);
  });
});

describe('regex', () => {
  it('compiles Go (RE2) patterns with their Go meaning', () => {
    const result = run(regex, '^RebootRequired$');
    expect(result.ok && result.value.test('RebootRequired')).toBe(true);
    const pattern = parseRegex('(?i)^kube');
    expect(pattern.test('KubeNodeNotReady')).toBe(true);
    // Go's flags last to the end of their group, wherever they stand.
    expect(parseRegex('Kube(?i)node').test('KubeNODE')).toBe(true);
    expect(parseRegex('Kube(?i)node').test('kubeNODE')).toBe(false);
  });

  it("refuses what Go refuses, with Go's reason", () => {
    const result = run(regex, '(?=Kube)');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toBe('invalid or unsupported Perl syntax: `(?=`');
    expect(run(regex, '([').ok).toBe(false);
  });
});

describe('alert label matchers', () => {
  it.each([
    ['severity=critical', '=', 'critical'],
    ['severity!=info', '!=', 'info'],
    ['alertname=~Kube.*', '=~', 'Kube.*'],
    ['team!~infra|platform', '!~', 'infra|platform'],
    ['env=', '=', ''],
    ['a=b=c', '=', 'b=c'],
  ] as const)('%j', (text, operator, value) => {
    const matcher = parseAlertLabelMatcher(text);
    expect(matcher.operator).toBe(operator);
    expect(matcher.value).toBe(value);
    expect(matcher.regex === undefined).toBe(operator === '=' || operator === '!=');
  });

  it('anchors regexes like Prometheus', () => {
    const { regex: pattern } = parseAlertLabelMatcher('alertname=~Kube.*');
    expect(pattern?.test('KubeDown')).toBe(true);
    expect(pattern?.test('NotKubeDown')).toBe(false);
    const { regex: either } = parseAlertLabelMatcher('team=~a|b');
    expect(either?.test('ab')).toBe(false);
  });

  it.each(['severity', '=critical', '1abc=x', 'sev erity=x', 'a=~('])('%j is refused', (text) => {
    expect(run(alertLabelMatcher, text).ok).toBe(false);
  });
});

describe('URLs', () => {
  it.each([
    ['http://prometheus:9090', 'http://prometheus:9090/'],
    ['https://prom.example.com/api', 'https://prom.example.com/api'],
    ['HTTPS://Prom.Example.com', 'https://prom.example.com/'],
  ])('%j → %j', (text, href) => {
    expect(run(httpUrl, text)).toEqual({ ok: true, value: href });
  });

  it.each([
    ['ftp://x', 'the scheme is "ftp", not http or https'],
    ['prometheus:9090', 'the scheme is "prometheus", not http or https'],
    ['prometheus', 'not a URL'],
    ['', 'not a URL'],
  ])('%j is refused: %s', (text, detail) => {
    expect(run(httpUrl, text)).toEqual({ ok: false, detail });
  });

  it('takes http(s) webhooks, quoted or not', () => {
    expect(run(notifyUrl, 'https://hooks.slack.com/services/A/B/C')).toEqual({
      ok: true,
      value: 'https://hooks.slack.com/services/A/B/C',
    });
    expect(run(notifyUrl, '"https://example.com/hook"')).toEqual({
      ok: true,
      value: 'https://example.com/hook',
    });
  });

  it.each(['slack://tokenA/tokenB/tokenC', 'teams://x', 'smtp://user@host'])(
    'explains that kured/shoutrrr URL %j is not a webhook',
    (text) => {
      const result = run(notifyUrl, text);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.detail).toContain('baton posts JSON webhooks to http(s) URLs');
      expect(!result.ok && result.detail).toContain(`${text.split(':')[0]}://`);
    },
  );
});

describe('command lines', () => {
  it.each([
    ['/bin/systemctl reboot', ['/bin/systemctl', 'reboot']],
    ['  /bin/systemctl   reboot  ', ['/bin/systemctl', 'reboot']],
    ["sh -c 'needs-restarting -r'", ['sh', '-c', 'needs-restarting -r']],
    ['sh -c "echo \\"hi\\" \\$HOME"', ['sh', '-c', 'echo "hi" $HOME']],
    ['a\\ b c', ['a b', 'c']],
    ["a''b", ['ab']],
    ["x ''", ['x', '']],
    ['sh -c "a; b"', ['sh', '-c', 'a; b']],
    ['echo \\;', ['echo', ';']],
    ["echo ';'", ['echo', ';']],
  ])('%j', (text, argv) => {
    expect(splitCommandLine(text)).toEqual(argv);
  });

  it.each([
    ['', 'the command is empty'],
    ['   ', 'the command is empty'],
    ["sh -c 'x", "unterminated ' quote"],
    ['sh -c "x', 'unterminated " quote'],
    ['reboot \\', 'it ends with a lone backslash'],
    [
      'needs-restarting -r || reboot',
      '"||" is not interpreted (no shell runs the command); wrap it in sh -c \'…\'',
    ],
    ['a ; b', '";" is not interpreted (no shell runs the command); wrap it in sh -c \'…\''],
  ])('%j is refused: %s', (text, detail) => {
    expect(run(commandLine, text)).toEqual({ ok: false, detail });
  });
});
