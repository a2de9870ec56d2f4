import { GateReason } from '@baton/protocol';
import { parseAlertLabelMatcher, parseRegex } from '@baton/protocol/config';
import { describe, expect, it } from 'vitest';
import {
  type Alert,
  type AlertFilter,
  AlertGate,
  type AlertSourceSettings,
  type AlertVerdict,
  alertCounts,
  apiUrl,
  evaluateAlerts,
  type HttpGet,
  parseAlertmanagerAlerts,
  parsePrometheusAlerts,
} from './alerts.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');
const noFilter: AlertFilter = {
  nameRegexp: undefined,
  matchOnly: false,
  firingOnly: false,
  labelMatchers: [],
};
const alert = (name: string, state = 'firing', labels: Record<string, string> = {}): Alert => ({
  name,
  state,
  labels: { alertname: name, ...labels },
});

describe('alertCounts (kured name filter, label matchers, firing only)', () => {
  const cases: { name: string; alert: Alert; filter: Partial<AlertFilter>; counts: boolean }[] = [
    { name: 'no filter: a firing alert counts', alert: alert('HighLoad'), filter: {}, counts: true },
    {
      name: 'no filter: a pending alert counts',
      alert: alert('HighLoad', 'pending'),
      filter: {},
      counts: true,
    },
    {
      name: 'firing only: a pending alert does not count',
      alert: alert('HighLoad', 'pending'),
      filter: { firingOnly: true },
      counts: false,
    },
    {
      name: 'firing only: a firing alert counts',
      alert: alert('HighLoad'),
      filter: { firingOnly: true },
      counts: true,
    },
    {
      name: 'regexp without match-only: a matching name is ignored',
      alert: alert('RebootRequired'),
      filter: { nameRegexp: parseRegex('^RebootRequired$') },
      counts: false,
    },
    {
      name: 'regexp without match-only: another name counts',
      alert: alert('HighLoad'),
      filter: { nameRegexp: parseRegex('^RebootRequired$') },
      counts: true,
    },
    {
      name: 'match-only: a matching name counts',
      alert: alert('EtcdDown'),
      filter: { nameRegexp: parseRegex('^Etcd'), matchOnly: true },
      counts: true,
    },
    {
      name: 'match-only: another name is ignored',
      alert: alert('HighLoad'),
      filter: { nameRegexp: parseRegex('^Etcd'), matchOnly: true },
      counts: false,
    },
    {
      name: 'a Go-style (?i) regexp ignores case',
      alert: alert('rebootrequired'),
      filter: { nameRegexp: parseRegex('(?i)^RebootRequired$') },
      counts: false,
    },
    {
      name: 'label matcher =: equal value counts',
      alert: alert('A', 'firing', { severity: 'critical' }),
      filter: { labelMatchers: [parseAlertLabelMatcher('severity=critical')] },
      counts: true,
    },
    {
      name: 'label matcher =: another value does not count',
      alert: alert('A', 'firing', { severity: 'warning' }),
      filter: { labelMatchers: [parseAlertLabelMatcher('severity=critical')] },
      counts: false,
    },
    {
      name: 'label matcher !=: a missing label reads as empty and counts',
      alert: alert('A'),
      filter: { labelMatchers: [parseAlertLabelMatcher('team!=infra')] },
      counts: true,
    },
    {
      name: 'label matcher =~ is anchored: a partial match does not count',
      alert: alert('A', 'firing', { namespace: 'kube-system-extra' }),
      filter: { labelMatchers: [parseAlertLabelMatcher('namespace=~kube-system')] },
      counts: false,
    },
    {
      name: 'label matcher =~ on alertname',
      alert: alert('KubeNodeNotReady'),
      filter: { labelMatchers: [parseAlertLabelMatcher('alertname=~Kube.*')] },
      counts: true,
    },
    {
      name: 'label matcher !~ excludes matching values',
      alert: alert('A', 'firing', { severity: 'info' }),
      filter: { labelMatchers: [parseAlertLabelMatcher('severity!~info|none')] },
      counts: false,
    },
    {
      name: 'every matcher must hold',
      alert: alert('A', 'firing', { severity: 'critical', team: 'infra' }),
      filter: {
        labelMatchers: [parseAlertLabelMatcher('severity=critical'), parseAlertLabelMatcher('team!=infra')],
      },
      counts: false,
    },
    {
      name: 'name filter and matchers combine',
      alert: alert('EtcdDown', 'firing', { severity: 'critical' }),
      filter: {
        nameRegexp: parseRegex('^Etcd'),
        matchOnly: true,
        labelMatchers: [parseAlertLabelMatcher('severity=critical')],
      },
      counts: true,
    },
  ];
  it.each(cases)('$name', ({ alert: a, filter, counts }) => {
    expect(alertCounts(a, { ...noFilter, ...filter })).toBe(counts);
  });
});

describe('parsePrometheusAlerts', () => {
  it('reads name, labels and state', () => {
    const body = JSON.stringify({
      status: 'success',
      data: {
        alerts: [
          { labels: { alertname: 'HighLoad', severity: 'warning' }, state: 'firing', value: '1e+00' },
          { labels: { alertname: 'DiskFull' }, annotations: {}, state: 'pending' },
        ],
      },
    });
    expect(parsePrometheusAlerts(body)).toEqual([
      { name: 'HighLoad', labels: { alertname: 'HighLoad', severity: 'warning' }, state: 'firing' },
      { name: 'DiskFull', labels: { alertname: 'DiskFull' }, state: 'pending' },
    ]);
  });
  it('reads an empty list', () => {
    expect(parsePrometheusAlerts('{"status":"success","data":{"alerts":[]}}')).toEqual([]);
  });
  const bad: [string, string, RegExp][] = [
    ['HTML', '<html>login</html>', /not JSON/],
    [
      'an error status',
      '{"status":"error","error":"query timed out"}',
      /"error", not "success": query timed out/,
    ],
    ['no data', '{"status":"success"}', /data.alerts/],
    ['alerts not a list', '{"status":"success","data":{"alerts":{}}}', /data.alerts/],
    ['an alert without labels', '{"status":"success","data":{"alerts":[{"state":"firing"}]}}', /labels/],
    [
      'a label that is not a string',
      '{"status":"success","data":{"alerts":[{"labels":{"a":1},"state":"firing"}]}}',
      /label "a"/,
    ],
    ['no state', '{"status":"success","data":{"alerts":[{"labels":{}}]}}', /state/],
    ['a list (Alertmanager shape)', '[]', /not a JSON object/],
  ];
  it.each(bad)('refuses %s', (_what, body, message) => {
    expect(() => parsePrometheusAlerts(body)).toThrow(message);
  });
});

describe('parseAlertmanagerAlerts', () => {
  it('keeps active and unprocessed alerts, drops suppressed ones', () => {
    const body = JSON.stringify([
      { labels: { alertname: 'A' }, status: { state: 'active', silencedBy: [], inhibitedBy: [] } },
      { labels: { alertname: 'B' }, status: { state: 'suppressed', silencedBy: ['x'], inhibitedBy: [] } },
      { labels: { alertname: 'C' }, status: { state: 'unprocessed' } },
    ]);
    expect(parseAlertmanagerAlerts(body).map((a) => [a.name, a.state])).toEqual([
      ['A', 'firing'],
      ['C', 'firing'],
    ]);
  });
  const bad: [string, string, RegExp][] = [
    ['an object (Prometheus shape)', '{"status":"success"}', /not a JSON list/],
    ['an alert without status', '[{"labels":{}}]', /status.state/],
    ['an alert without labels', '[{"status":{"state":"active"}}]', /labels/],
    ['truncated JSON', '[{"labels":', /not JSON/],
  ];
  it.each(bad)('refuses %s', (_what, body, message) => {
    expect(() => parseAlertmanagerAlerts(body)).toThrow(message);
  });
});

describe('apiUrl', () => {
  it.each([
    ['http://prom:9090', '/api/v1/alerts', 'http://prom:9090/api/v1/alerts'],
    ['http://prom:9090/', '/api/v1/alerts', 'http://prom:9090/api/v1/alerts'],
    ['https://mon.example/prometheus/', '/api/v1/alerts', 'https://mon.example/prometheus/api/v1/alerts'],
    ['https://mon.example/prometheus', '/api/v1/alerts', 'https://mon.example/prometheus/api/v1/alerts'],
  ])('%s + %s', (base, path, want) => {
    expect(apiUrl(base, path)).toBe(want);
  });
});

describe('evaluateAlerts', () => {
  const promOnly: AlertSourceSettings = {
    prometheusUrl: 'http://prom:9090/',
    alertmanagerUrl: undefined,
    bearerTokenFile: undefined,
    basicAuthFile: undefined,
    caFile: undefined,
    timeoutMs: 1000,
  };
  const promBody = (alerts: unknown[]) => JSON.stringify({ status: 'success', data: { alerts } });
  const files: Record<string, string> = {
    '/secret/token': 'tok-123\n',
    '/secret/basic': 'alice:s3cret\n',
    '/secret/ca.pem': '-----BEGIN CERTIFICATE-----\n',
    '/secret/empty': '\n',
  };
  const readFile = async (path: string) => {
    const v = files[path];
    if (v === undefined)
      throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return v;
  };
  const calls: { url: string; headers: Record<string, string>; ca: string | undefined }[] = [];
  const answer =
    (byUrl: Record<string, { status: number; body: string } | Error>): HttpGet =>
    async (url, opts) => {
      calls.push({ url, headers: { ...opts.headers }, ca: opts.ca });
      const a = byUrl[url];
      if (a === undefined) throw new Error(`unexpected ${url}`);
      if (a instanceof Error) throw a;
      return a;
    };
  const PROM = 'http://prom:9090/api/v1/alerts';
  const AM = 'http://am:9093/api/v2/alerts?active=true&silenced=false&inhibited=false';
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });

  const cases: {
    name: string;
    settings?: Partial<AlertSourceSettings>;
    filter?: Partial<AlertFilter>;
    answers: Record<string, { status: number; body: string } | Error>;
    want: { blocked: false } | { blocked: true; reason: GateReason; detail: RegExp };
  }[] = [
    {
      name: 'no alerts: not blocked',
      answers: { [PROM]: { status: 200, body: promBody([]) } },
      want: { blocked: false },
    },
    {
      name: 'a firing alert blocks, named in the detail',
      answers: {
        [PROM]: { status: 200, body: promBody([{ labels: { alertname: 'HighLoad' }, state: 'firing' }]) },
      },
      want: {
        blocked: true,
        reason: GateReason.AlertFiring,
        detail: /1 alert\(s\) active on Prometheus: HighLoad$/,
      },
    },
    {
      name: 'a pending alert blocks, marked pending',
      answers: {
        [PROM]: { status: 200, body: promBody([{ labels: { alertname: 'HighLoad' }, state: 'pending' }]) },
      },
      want: { blocked: true, reason: GateReason.AlertFiring, detail: /HighLoad \(pending\)/ },
    },
    {
      name: 'a pending alert does not block with firing-only',
      filter: { firingOnly: true },
      answers: {
        [PROM]: { status: 200, body: promBody([{ labels: { alertname: 'HighLoad' }, state: 'pending' }]) },
      },
      want: { blocked: false },
    },
    {
      name: 'an ignored alert does not block',
      filter: { nameRegexp: /^RebootRequired$/ },
      answers: {
        [PROM]: {
          status: 200,
          body: promBody([{ labels: { alertname: 'RebootRequired' }, state: 'firing' }]),
        },
      },
      want: { blocked: false },
    },
    {
      name: 'connection refused: PrometheusUnreachable naming the cause and the URL',
      answers: { [PROM]: refused },
      want: {
        blocked: true,
        reason: GateReason.PrometheusUnreachable,
        detail: /^GET http:\/\/prom:9090\/api\/v1\/alerts: connect ECONNREFUSED/,
      },
    },
    {
      name: 'HTTP 503: PrometheusUnreachable with the status',
      answers: { [PROM]: { status: 503, body: 'Service Unavailable' } },
      want: {
        blocked: true,
        reason: GateReason.PrometheusUnreachable,
        detail: /HTTP 503 \(Service Unavailable\)/,
      },
    },
    {
      name: 'HTTP 401: PrometheusUnreachable',
      answers: { [PROM]: { status: 401, body: '' } },
      want: { blocked: true, reason: GateReason.PrometheusUnreachable, detail: /HTTP 401$/ },
    },
    {
      name: 'a login page instead of JSON: PrometheusUnreachable',
      answers: { [PROM]: { status: 200, body: '<html>sign in</html>' } },
      want: {
        blocked: true,
        reason: GateReason.PrometheusUnreachable,
        detail: /unexpected answer: the body is not JSON/,
      },
    },
    {
      name: 'Alertmanager: an active alert blocks',
      settings: { prometheusUrl: undefined, alertmanagerUrl: 'http://am:9093' },
      answers: {
        [AM]: {
          status: 200,
          body: JSON.stringify([{ labels: { alertname: 'X' }, status: { state: 'active' } }]),
        },
      },
      want: { blocked: true, reason: GateReason.AlertFiring, detail: /active on Alertmanager: X/ },
    },
    {
      name: 'Alertmanager down: AlertmanagerUnreachable',
      settings: { prometheusUrl: undefined, alertmanagerUrl: 'http://am:9093' },
      answers: { [AM]: refused },
      want: { blocked: true, reason: GateReason.AlertmanagerUnreachable, detail: /ECONNREFUSED/ },
    },
    {
      name: 'both sources: an unreachable one outranks a firing alert on the other',
      settings: { alertmanagerUrl: 'http://am:9093' },
      answers: {
        [PROM]: { status: 200, body: promBody([{ labels: { alertname: 'HighLoad' }, state: 'firing' }]) },
        [AM]: refused,
      },
      want: { blocked: true, reason: GateReason.AlertmanagerUnreachable, detail: /ECONNREFUSED/ },
    },
    {
      name: 'both sources quiet: not blocked',
      settings: { alertmanagerUrl: 'http://am:9093' },
      answers: { [PROM]: { status: 200, body: promBody([]) }, [AM]: { status: 200, body: '[]' } },
      want: { blocked: false },
    },
    {
      name: 'a missing token file: blocked naming the flag and the file',
      settings: { bearerTokenFile: '/secret/missing' },
      answers: {},
      want: {
        blocked: true,
        reason: GateReason.PrometheusUnreachable,
        detail: /cannot read --prometheus-bearer-token-file \/secret\/missing: ENOENT/,
      },
    },
    {
      name: 'an empty token file: blocked',
      settings: { bearerTokenFile: '/secret/empty' },
      answers: {},
      want: { blocked: true, reason: GateReason.PrometheusUnreachable, detail: /is empty/ },
    },
    {
      name: 'a basic-auth file without a colon: blocked',
      settings: { basicAuthFile: '/secret/token' },
      answers: {},
      want: {
        blocked: true,
        reason: GateReason.PrometheusUnreachable,
        detail: /does not hold "user:password"/,
      },
    },
  ];
  it.each(cases)('$name', async ({ settings, filter, answers, want }) => {
    const v = await evaluateAlerts(
      { ...promOnly, ...settings },
      { ...noFilter, ...filter },
      { get: answer(answers), readFile, now: () => NOW },
    );
    expect(v.blocked).toBe(want.blocked);
    if (v.blocked && want.blocked) {
      expect(v.reason).toBe(want.reason);
      expect(v.detail).toMatch(want.detail);
    }
  });

  it('sends the bearer token and the CA it read from the files', async () => {
    calls.length = 0;
    await evaluateAlerts(
      { ...promOnly, bearerTokenFile: '/secret/token', caFile: '/secret/ca.pem' },
      noFilter,
      { get: answer({ [PROM]: { status: 200, body: promBody([]) } }), readFile, now: () => NOW },
    );
    expect(calls).toEqual([
      {
        url: PROM,
        headers: { accept: 'application/json', authorization: 'Bearer tok-123' },
        ca: '-----BEGIN CERTIFICATE-----',
      },
    ]);
  });

  it('sends basic authentication read from the file', async () => {
    calls.length = 0;
    await evaluateAlerts({ ...promOnly, basicAuthFile: '/secret/basic' }, noFilter, {
      get: answer({ [PROM]: { status: 200, body: promBody([]) } }),
      readFile,
      now: () => NOW,
    });
    expect(calls[0]?.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('never prints credentials of the URL', async () => {
    const v = await evaluateAlerts(
      { ...promOnly, prometheusUrl: 'http://bob:hunter2@prom:9090/' },
      noFilter,
      { get: async () => Promise.reject(refused), readFile, now: () => NOW },
    );
    expect(v.blocked && v.detail).not.toMatch(/hunter2/);
  });
});

describe('AlertGate', () => {
  it('blocks before the first answer, caches answers, reports changes once, and blocks when stale', async () => {
    const answers: AlertVerdict[] = [
      { blocked: true, reason: GateReason.AlertFiring, detail: 'x', checkedAt: NOW },
      { blocked: true, reason: GateReason.AlertFiring, detail: 'x', checkedAt: NOW },
      { blocked: false, checkedAt: NOW },
    ];
    let asked = 0;
    const changes: AlertVerdict[] = [];
    const gate = new AlertGate({
      ask: async () => answers[Math.min(asked++, answers.length - 1)] as AlertVerdict,
      periodMs: 5,
      timeoutMs: 1000,
      firstReason: GateReason.PrometheusUnreachable,
      onChange: (v) => changes.push(v),
    });
    expect(gate.verdict(NOW)).toMatchObject({
      blocked: true,
      reason: GateReason.PrometheusUnreachable,
      detail: 'no answer yet',
    });
    gate.start();
    await expect.poll(() => asked).toBeGreaterThanOrEqual(4);
    await gate.stop();
    expect(changes.map((c) => c.blocked)).toEqual([true, false]);
    expect(gate.verdict(NOW).blocked).toBe(false);
    const later = new Date(NOW.getTime() + 60_000);
    expect(gate.verdict(later)).toMatchObject({ blocked: true, reason: GateReason.PrometheusUnreachable });
  });

  it('a failing ask blocks instead of stopping the loop', async () => {
    let asked = 0;
    const gate = new AlertGate({
      ask: async () => {
        asked++;
        throw new Error('boom');
      },
      periodMs: 5,
      timeoutMs: 1000,
      firstReason: GateReason.AlertmanagerUnreachable,
      onChange: () => undefined,
    });
    gate.start();
    await expect.poll(() => asked).toBeGreaterThanOrEqual(2);
    await gate.stop();
    expect(gate.verdict(new Date())).toMatchObject({ blocked: true, detail: 'asking failed: boom' });
  });
});
