/**
 * The chart's PrometheusRule and Grafana dashboard against the tools and the process they are
 * written for: promtool (built from its Go module by e2e/tools/build.sh) checks the rules and runs
 * unit tests of every alert on synthetic series; and every metric name the rules and dashboard use
 * is one that a real baton-controller process serves on /metrics.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeLocalPort, runNode, unreachableKubeconfig, waitForHttpOk } from '@baton/runtime/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { chartPath, type K8sObject, only, renderChart, toolBinary } from './chart.ts';

const exec = promisify(execFile);
const CONTROLLER_MAIN = join(chartPath, '..', '..', 'packages', 'controller', 'src', 'main.ts');

interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Expands the two template variables the chart's annotations use, as Prometheus would. */
function expand(text: string, labels: Record<string, string>, value: string): string {
  return text
    .replaceAll(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? '')
    .replaceAll('{{ $value }}', value);
}

/** Every baton_* metric name in a text, histogram/summary suffixes folded to the family. */
function metricNames(text: string): Set<string> {
  return new Set(
    [...text.matchAll(/\bbaton_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')),
  );
}

describe('the PrometheusRule and the dashboard', () => {
  let promtool: string;
  let dir: string;
  let rules: AlertRule[];
  let rulesFile: string;
  let dashboard: string;

  beforeAll(async () => {
    promtool = await toolBinary('promtool'); // built from its Go module when the cache lacks it
    dir = await mkdtemp(join(tmpdir(), 'baton-rules-'));
    const r = await renderChart({ prometheusRule: { enabled: true } });
    expect(r.ok, r.stderr).toBe(true);
    const rule: K8sObject = only(r.objects, 'PrometheusRule');
    rules = rule.spec.groups[0].rules;
    rulesFile = join(dir, 'rules.yaml');
    await writeFile(rulesFile, stringify({ groups: rule.spec.groups }));
    dashboard = only(r.objects, 'ConfigMap').data['baton.json'];
  }, 1_800_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pass promtool check rules', async () => {
    const { stdout } = await exec(promtool, ['check', 'rules', rulesFile]);
    expect(stdout).toContain('SUCCESS: 4 rules found');
  });

  it('fire, and stay quiet, as promtool test rules shows on synthetic series', async () => {
    const byName = (name: string): AlertRule => {
      const found = rules.find((x) => x.alert === name);
      if (!found) throw new Error(`no alert ${name}`);
      return found;
    };
    const firing = (name: string, labels: Record<string, string>, value = '') => {
      const rule = byName(name);
      const all = { ...labels, ...rule.labels };
      return {
        exp_labels: all,
        exp_annotations: Object.fromEntries(
          Object.entries(rule.annotations).map(([k, v]) => [k, expand(v, all, value)]),
        ),
      };
    };
    const ns = 'namespace="baton"';
    const tests = {
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [
        {
          // A node held 25 h, by two different gates one after the other: one pending reboot.
          interval: '1m',
          input_series: [
            { series: `baton_node_blocked{${ns},node="n1",reason="OutsideWindow"}`, values: '1x720' },
            { series: `baton_node_blocked{${ns},node="n1",reason="WaitingForSlot"}`, values: '_x720 1x900' },
            { series: `baton_node_blocked{${ns},node="n2",reason="Paused"}`, values: '_x1200 1x300' },
          ],
          alert_rule_test: [
            { eval_time: '23h', alertname: 'BatonRebootPendingTooLong', exp_alerts: [] },
            {
              eval_time: '25h',
              alertname: 'BatonRebootPendingTooLong',
              exp_alerts: [firing('BatonRebootPendingTooLong', { node: 'n1' })],
            },
          ],
        },
        {
          // Two replicas: the standby reports 0, the leader 1 from minute 2.
          interval: '1m',
          input_series: [
            { series: `baton_rollout_halted{${ns},pod="a"}`, values: '0 0 1x20' },
            { series: `baton_rollout_halted{${ns},pod="b"}`, values: '0x22' },
          ],
          alert_rule_test: [
            { eval_time: '4m', alertname: 'BatonRolloutHalted', exp_alerts: [] },
            {
              eval_time: '10m',
              alertname: 'BatonRolloutHalted',
              exp_alerts: [firing('BatonRolloutHalted', {})],
            },
          ],
        },
        {
          // A slot held 3 h with no release, against one where releases go on.
          interval: '5m',
          input_series: [
            { series: `baton_slots_taken{${ns},pod="a"}`, values: '1x40' },
            { series: `baton_releases_total{${ns},pod="a",reason="Settled"}`, values: '5x40' },
          ],
          alert_rule_test: [
            { eval_time: '1h', alertname: 'BatonRebootStuck', exp_alerts: [] },
            {
              eval_time: '2h30m',
              alertname: 'BatonRebootStuck',
              exp_alerts: [firing('BatonRebootStuck', {}, '1')],
            },
          ],
        },
        {
          interval: '5m',
          input_series: [
            { series: `baton_slots_taken{${ns},pod="a"}`, values: '1x40' },
            { series: `baton_releases_total{${ns},pod="a",reason="Settled"}`, values: '0+1x40' },
          ],
          alert_rule_test: [{ eval_time: '2h30m', alertname: 'BatonRebootStuck', exp_alerts: [] }],
        },
        {
          // The controller is scraped for 10 minutes, then nothing.
          interval: '1m',
          input_series: [{ series: `baton_slots_taken{${ns},pod="a"}`, values: '0x10' }],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'BatonControllerDown', exp_alerts: [] },
            {
              eval_time: '30m',
              alertname: 'BatonControllerDown',
              exp_alerts: [firing('BatonControllerDown', { namespace: 'baton' })],
            },
          ],
        },
      ],
    };
    const testFile = join(dir, 'rules.test.yaml');
    await writeFile(testFile, stringify(tests));
    const result = await exec(promtool, ['test', 'rules', testFile]).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
  });

  it('use only metric names a real baton-controller serves on /metrics', async () => {
    const used = new Set([...metricNames(rules.map((r) => r.expr).join('\n')), ...metricNames(dashboard)]);
    expect([...used].sort()).toEqual([
      'baton_grants_total',
      'baton_node_blocked',
      'baton_paused',
      'baton_releases_total',
      'baton_rollout_halted',
      'baton_slots_taken',
    ]);
    const port = await freeLocalPort();
    const run = runNode([
      CONTROLLER_MAIN,
      `--kubeconfig=${await unreachableKubeconfig(dir)}`,
      '--metrics-host=127.0.0.1',
      `--metrics-port=${port}`,
    ]);
    let exported: Set<string>;
    try {
      const res = await waitForHttpOk(`http://127.0.0.1:${port}/metrics`, run, 90_000);
      const text = await res.text();
      exported = new Set([...text.matchAll(/^# TYPE (baton_\w+) /gm)].map((m) => m[1] as string));
    } finally {
      await run.stop();
    }
    for (const name of used) expect(exported, `${name} is not on /metrics`).toContain(name);
  });

  it('ship the dashboard the chart renders, byte for byte the file in charts/baton/dashboards', async () => {
    expect(dashboard).toBe((await readFile(join(chartPath, 'dashboards', 'baton.json'), 'utf8')).trimEnd());
  });
});
