/**
 * A real Prometheus server (built from its Go module by e2e/tools/build.sh) on loopback, with
 * one alerting rule the test controls: `setFiring(true)` rewrites the rule file so the alert's
 * expression has a sample (`vector(1)`), `setFiring(false)` so it has none, then reloads the
 * configuration (`POST /-/reload`, enabled by `--web.enable-lifecycle`) and waits until
 * `/api/v1/alerts` — what the controller asks — shows the new state. Nothing is scraped: the
 * rule needs no series.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toolBinary } from '../../scripts/chart.ts';
import { freePort } from './cluster.ts';
import { waitFor } from './kube.ts';
import { type ManagedProcess, startProcess, tailOf, waitUntilHealthy } from './processes.ts';

export interface AlertView {
  readonly labels: Record<string, string>;
  readonly state: string;
}

export class RealPrometheus {
  readonly url: string;
  readonly alertName: string;
  readonly #process: ManagedProcess;
  readonly #rules: string;

  private constructor(process: ManagedProcess, url: string, rules: string, alertName: string) {
    this.#process = process;
    this.url = url;
    this.#rules = rules;
    this.alertName = alertName;
  }

  /** Starts it in `dir` (config, rules, TSDB, log) with the alert `alertName`, firing or not. */
  static async start(dir: string, o: { alertName: string; firing: boolean }): Promise<RealPrometheus> {
    const bin = await toolBinary('prometheus'); // built from its Go module when the cache lacks it
    await mkdir(join(dir, 'data'), { recursive: true });
    const rules = join(dir, 'rules.yml');
    await writeFile(rules, ruleFile(o.alertName, o.firing));
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      `global:\n  evaluation_interval: 1s\nrule_files:\n  - ${JSON.stringify(rules)}\n`,
    );
    const port = await freePort();
    const proc = startProcess({
      name: 'prometheus',
      command: bin,
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
        '--log.level=info',
      ],
      logPath: join(dir, 'prometheus.log'),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilHealthy(
      proc,
      async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
      120_000,
    );
    const prom = new RealPrometheus(proc, url, rules, o.alertName);
    await prom.#waitForState(o.firing);
    return prom;
  }

  /** Makes the alert fire (or resolve) and waits until the alerts API says so. */
  async setFiring(firing: boolean): Promise<void> {
    await writeFile(this.#rules, ruleFile(this.alertName, firing));
    const res = await fetch(`${this.url}/-/reload`, { method: 'POST' });
    if (!res.ok) {
      throw new Error(
        `prometheus: POST /-/reload answered ${res.status} ${await res.text()}; last lines of ${this.#process.logPath}:\n${tailOf(this.#process.logPath)}`,
      );
    }
    await this.#waitForState(firing);
  }

  /** The alerts as the controller sees them. */
  async alerts(): Promise<AlertView[]> {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    const body = (await res.json()) as { data?: { alerts?: AlertView[] } };
    return body.data?.alerts ?? [];
  }

  async #waitForState(firing: boolean): Promise<void> {
    try {
      await waitFor(
        `prometheus: alert ${this.alertName} ${firing ? 'firing' : 'resolved'}`,
        async () => {
          const mine = (await this.alerts()).filter((a) => a.labels.alertname === this.alertName);
          return firing ? mine.some((a) => a.state === 'firing') : mine.length === 0;
        },
        60_000,
      );
    } catch (err) {
      throw new Error(
        `${(err as Error).message}; last lines of ${this.#process.logPath}:\n${tailOf(this.#process.logPath)}`,
      );
    }
  }

  async stop(): Promise<void> {
    await this.#process.stop(5_000);
  }
}

/** No `for:`: the alert fires at the first evaluation that has a sample. */
function ruleFile(alertName: string, firing: boolean): string {
  return [
    'groups:',
    '  - name: baton-e2e',
    '    interval: 1s',
    '    rules:',
    `      - alert: ${alertName}`,
    `        expr: ${firing ? 'vector(1)' : 'vector(1) == 0'}`,
    '        labels:',
    '          severity: critical',
    '        annotations:',
    '          summary: set by the e2e test',
    '',
  ].join('\n');
}
