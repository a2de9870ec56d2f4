/**
 * Writes charts/baton/values.schema.json (`pnpm run docs`). The chart's own keys are written
 * here by hand; `controller.config` and `agent.config` are generated from the option tables, one
 * camelCase key per flag (the chart renders `rebootDays` as `--reboot-days`), so the chart can
 * pass exactly the flags the processes have. A unit test fails when the committed file differs.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  agentOptions,
  type Bounds,
  camelCase,
  controllerOptions,
  describeOptions,
  type OptionTable,
} from '@baton/protocol/config';

export const chartDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'charts', 'baton');
export const chartSchemaPath = join(chartDir, 'values.schema.json');

/**
 * Flags the chart sets itself, from the downward API, from its structured values or from Secrets;
 * `config` may not set them (a second source would be silently overridden, or leak a secret).
 */
export const chartOwnedFlags = {
  controller: [
    'namespace',
    'identity',
    'kubeconfig',
    'metrics-host',
    'metrics-port',
    'leader-elect',
    'leader-election-lease-duration',
    'leader-election-renew-deadline',
    'leader-election-retry-period',
    'notify-url',
    'prometheus-bearer-token-file',
    'prometheus-basic-auth-file',
    'prometheus-ca-file',
  ],
  agent: [
    'node-id',
    'namespace',
    'kubeconfig',
    'metrics-host',
    'metrics-port',
    'reboot-sentinel',
    'reboot-sentinel-command',
    'reboot-method',
    'reboot-command',
    'reboot-signal',
    'host-mount-namespace',
  ],
} as const;

type Json = { [key: string]: unknown };

/** URLs whose credentials would end up in the Deployment: refused, they belong in Secrets. */
const URL_FLAGS = new Set(['prometheus-url', 'alertmanager-url']);

/** JSON Schema's bounds of a count (durations are strings: their range is in the description). */
function numberRange(bounds: Bounds | undefined): Json {
  return bounds?.unit === 'count' ? { minimum: bounds.min, maximum: bounds.max } : {};
}

function configSchema(table: OptionTable, owned: readonly string[]): Json {
  const properties: Json = {};
  for (const row of describeOptions(table)) {
    const name = row.flag.slice(2);
    if (owned.includes(name)) continue;
    const description = `${row.flag}: ${row.description} Expected: ${row.expected}.${
      row.default === undefined ? '' : ` Default: ${row.default}.`
    }`;
    let type: Json;
    if (row.kind === 'boolean') type = { type: 'boolean' };
    else if (row.kind === 'repeatable') type = { type: 'array', items: { type: 'string', minLength: 1 } };
    else if (row.expected.startsWith('an integer')) {
      // The range as numbers too, so `helm install` refuses a value past it (a string is checked at start).
      type = { type: ['integer', 'string'], ...numberRange(row.bounds) };
    } else type = { type: 'string', minLength: 1 };
    if (URL_FLAGS.has(name)) {
      type = {
        ...type,
        pattern: '^https?://[^/@]+(/.*)?$',
        $comment: 'no user:password@ in the URL: credentials come from controller.prometheusAuth (Secrets)',
      };
    }
    properties[camelCase(name)] = { description, ...type };
  }
  return {
    type: 'object',
    description: 'Process flags by camelCase name (docs/configuration.md); a key left out keeps the default.',
    additionalProperties: false,
    properties,
  };
}

const str = { type: 'string' };
const duration = { type: 'string', pattern: '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$' };
const map = { type: 'object', additionalProperties: { type: 'string' } };

/** A chart value passed to a duration flag: the flag's description, accepted range included. */
function flagDuration(table: OptionTable, flag: string): Json {
  const row = describeOptions(table).find((r) => r.flag === `--${flag}`);
  if (row === undefined) throw new Error(`no option --${flag}`);
  return { ...duration, description: `Passed as --${flag}: ${row.description} Expected: ${row.expected}.` };
}
const obj = (properties: Json, required?: string[]): Json => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...(required ? { required } : {}),
});
const image = obj(
  {
    repository: { type: 'string', minLength: 1 },
    tag: str,
    digest: { type: 'string', pattern: '^(sha256:[a-f0-9]{64})?$' },
    pullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
  },
  ['repository'],
);
const secretRef = obj({ secretName: str, key: { type: 'string', minLength: 1 } });
const k8sObject = { type: 'object' };
const k8sList = { type: 'array', items: { type: 'object' } };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const rbacSubjects = {
  type: 'array',
  items: obj(
    {
      kind: { enum: ['User', 'Group', 'ServiceAccount'] },
      name: { type: 'string', minLength: 1 },
      namespace: str,
    },
    ['kind', 'name'],
  ),
};
const common = {
  nodeSelector: map,
  tolerations: k8sList,
  affinity: k8sObject,
  priorityClassName: str,
  resources: k8sObject,
  podAnnotations: map,
  podLabels: map,
  serviceAccount: obj({ annotations: map }),
  extraEnv: k8sList,
};

export function renderChartSchema(): string {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Values of the baton chart',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: { type: 'object' },
      nameOverride: str,
      fullnameOverride: str,
      imagePullSecrets: { type: 'array', items: obj({ name: { type: 'string', minLength: 1 } }, ['name']) },
      commonLabels: map,
      controller: obj({
        image,
        replicaCount: { type: 'integer', minimum: 1 },
        leaderElection: obj({
          enabled: { type: 'boolean' },
          leaseDuration: flagDuration(controllerOptions, 'leader-election-lease-duration'),
          renewDeadline: flagDuration(controllerOptions, 'leader-election-renew-deadline'),
          retryPeriod: flagDuration(controllerOptions, 'leader-election-retry-period'),
        }),
        config: configSchema(controllerOptions, chartOwnedFlags.controller),
        notify: secretRef,
        prometheusAuth: obj({ bearerToken: secretRef, basicAuth: secretRef, ca: secretRef }),
        metrics: obj({ port }),
        service: obj({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, port, annotations: map }),
        podDisruptionBudget: obj({
          enabled: { type: 'boolean' },
          maxUnavailable: { type: ['integer', 'string'] },
        }),
        topologySpreadConstraints: k8sList,
        ...common,
      }),
      agent: obj({
        image,
        sentinel: obj({
          file: {
            type: 'string',
            pattern: '^/.*[^/]$',
            description: "The sentinel file's absolute path on the host.",
          },
          command: str,
        }),
        reboot: obj({
          method: { enum: ['command', 'signal'] },
          command: str,
          signal: { type: ['integer', 'string'] },
        }),
        privileged: { type: 'boolean' },
        config: configSchema(agentOptions, chartOwnedFlags.agent),
        metrics: obj({ port }),
        updateStrategy: k8sObject,
        ...common,
      }),
      agentNodePolicy: obj({ enabled: { type: 'boolean' } }),
      controllerNodePolicy: obj({ enabled: { type: 'boolean' } }),
      userRoles: obj({ viewers: rbacSubjects, operators: rbacSubjects }),
      serviceMonitor: obj({
        enabled: { type: 'boolean' },
        interval: duration,
        scrapeTimeout: duration,
        labels: map,
      }),
      prometheusRule: obj({
        enabled: { type: 'boolean' },
        labels: map,
        selector: str,
        rebootPendingFor: duration,
        haltedFor: duration,
        stuckFor: duration,
        downFor: duration,
        severity: { type: 'string', minLength: 1 },
      }),
      grafanaDashboard: obj({
        enabled: { type: 'boolean' },
        label: { type: 'string', minLength: 1 },
        labelValue: str,
        folder: str,
        namespace: str,
      }),
    },
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(chartSchemaPath, renderChartSchema());
  process.stdout.write(`wrote ${chartSchemaPath}\n`);
}
