import { describe, expect, it } from 'vitest';
import { DEFAULT_NAMESPACE, DEFAULT_OPT_OUT_LABEL, parseCommandLine } from './args.ts';
import { CliError, ExitCode } from './errors.ts';

function run(argv: string[]) {
  const parsed = parseCommandLine(argv);
  if (parsed.kind !== 'run') throw new Error(`expected a command, got help`);
  return parsed;
}

function usage(argv: string[]): string {
  try {
    parseCommandLine(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.Usage);
    return (err as CliError).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseCommandLine', () => {
  it.each([
    [['status'], { name: 'status', output: 'text', nodes: [] }],
    [['status', '-o', 'json', 'n1', 'n2'], { name: 'status', output: 'json', nodes: ['n1', 'n2'] }],
    [['why', 'node-a', '--output=json'], { name: 'why', output: 'json', node: 'node-a' }],
    [['pause'], { name: 'pause', forMs: undefined, reason: undefined }],
    [
      ['pause', '--for', '48h', '--reason', 'change freeze'],
      { name: 'pause', forMs: 172_800_000, reason: 'change freeze' },
    ],
    [['pause', '--for=1h30m'], { name: 'pause', forMs: 5_400_000, reason: undefined }],
    [['resume'], { name: 'resume' }],
    [['release', 'baton-slot-0'], { name: 'release', target: 'baton-slot-0', force: false }],
    [['release', 'node-a', '--force'], { name: 'release', target: 'node-a', force: true }],
    [['request', 'node-a'], { name: 'request', node: 'node-a' }],
    [['cancel', 'node-a'], { name: 'cancel', node: 'node-a' }],
  ])('%j', (argv, command) => {
    expect(run(argv).command).toEqual(command);
  });

  it('takes the global flags anywhere, with kubectl defaults', () => {
    expect(run(['status']).global).toEqual({
      kubeconfig: undefined,
      context: undefined,
      namespace: DEFAULT_NAMESPACE,
      optOutLabel: 'baton.dev/opt-out',
      requestTimeoutMs: 30_000,
    });
    expect(
      run([
        '-n',
        'ops',
        'status',
        '--kubeconfig',
        '/k',
        '--context=prod',
        '--opt-out-label',
        'example.com/no-reboot',
        '--request-timeout=1m30s',
      ]).global,
    ).toEqual({
      kubeconfig: '/k',
      context: 'prod',
      namespace: 'ops',
      optOutLabel: 'example.com/no-reboot',
      requestTimeoutMs: 90_000,
    });
    expect(run(['status', '--request-timeout', '0']).global.requestTimeoutMs).toBe(0);
  });

  it.each([
    ['10', '--request-timeout: invalid value "10" (a unit is required; only 0 may be written without one)'],
    ['-5s', '--request-timeout: invalid value "-5s"'],
    ['0s', '--request-timeout: invalid value "0s": expected 0 (no limit) or a positive duration'],
  ])('refuses --request-timeout=%s naming the flag', (text, message) => {
    expect(() => parseCommandLine(['status', `--request-timeout=${text}`])).toThrow(message);
  });

  it("defaults the opt-out label to the controller's own default", () => {
    expect(DEFAULT_OPT_OUT_LABEL).toBe('baton.dev/opt-out');
  });

  it.each([[['--help']], [['-h']], [['help']]])('%j prints the main help', (argv) => {
    const parsed = parseCommandLine(argv);
    expect(parsed.kind).toBe('help');
    if (parsed.kind === 'help') expect(parsed.text).toMatch(/^Usage: kubectl baton COMMAND/);
  });

  it.each([[['release', '--help']], [['help', 'release']], [['release', '-h', 'x']]])(
    '%j prints the command help',
    (argv) => {
      const parsed = parseCommandLine(argv);
      expect(parsed.kind === 'help' && parsed.text).toMatch(
        /^Usage: kubectl baton release SLOT\|NODE \[--force\]/,
      );
    },
  );

  it.each([
    [[], /a command is needed: status, why, pause/],
    [['stats'], /unknown command "stats"/],
    [['help', 'stats'], /unknown command "stats"/],
    [['status', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['status', '--force'], /--force is not a flag of "status"/],
    [['resume', '--for', '1h'], /--for is not a flag of "resume"/],
    [['release', '-o', 'json', 'x'], /-o\/--output is not a flag of "release"/],
    [['why'], /"why" needs NODE/],
    [['why', 'a', 'b'], /"why" takes NODE only, got "a b"/],
    [['pause', 'now'], /"pause" takes no arguments, got "now"/],
    [['request', ''], /an empty argument is not a NODE/],
    [['status', '-o', 'yaml'], /-o\/--output: invalid value "yaml": expected json or text/],
    [
      ['pause', '--for', '2d'],
      /--for: invalid value "2d" \("d" \(days\) is not a unit here: write 24h for a day\)/,
    ],
    [['pause', '--for', '90'], /--for: invalid value "90" \(a unit is required/],
    [['pause', '--for', '0'], /--for: invalid value "0": expected a duration of whole seconds, at least 1s/],
    [['pause', '--for', '1500ms'], /--for: invalid value "1500ms": expected a duration of whole seconds/],
    [['pause', '--reason', ' '], /--reason: the value is empty/],
    [['status', '-n', 'Bad_NS'], /-n\/--namespace: invalid value "Bad_NS": expected a namespace name/],
    [['status', '--opt-out-label', 'a b'], /--opt-out-label: invalid value "a b"/],
    [['status', '--kubeconfig'], /argument missing/],
  ])('%j is a usage error', (argv, message) => {
    expect(usage(argv)).toMatch(message);
  });
});
