/**
 * charts/baton, rendered by the real helm: lint, the objects of the default and of non-default
 * values (security contexts, the flags each process is given — parsed by the processes' own
 * config parsers —, RBAC), and values.schema.json's refusals. The chart on a real API server is
 * e2e/chart.e2e.ts.
 */

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentOptions,
  camelCase,
  controllerOptions,
  type OptionDef,
  parseAgentConfig,
  parseControllerConfig,
} from '@baton/protocol/config';
import { beforeAll, describe, expect, it } from 'vitest';
import { chartPath, helm, type K8sObject, only, renderChart, toolBinary, withValuesFile } from './chart.ts';
import { chartOwnedFlags, chartSchemaPath, renderChartSchema } from './chart-schema.ts';
import { HOST_COMMAND_CAPABILITIES } from './host-privileges-spec.ts';

const NS = 'baton';

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

function container(workload: K8sObject): Container {
  const c = workload.spec.template.spec.containers;
  expect(c).toHaveLength(1);
  return c[0] as Container;
}

/**
 * What the process would see: its args, and its environment as the kubelet fills it in (field
 * refs from the pod, Secret keys from `secrets`). Values the chart does not set stay unset.
 */
function processInput(
  c: Container,
  pod: { name: string; namespace: string; nodeName: string },
  secrets: Record<string, string> = {},
) {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === 'metadata.namespace') env[e.name] = pod.namespace;
    if (field === 'metadata.name') env[e.name] = pod.name;
    if (field === 'spec.nodeName') env[e.name] = pod.nodeName;
    const secret = e.valueFrom?.secretKeyRef;
    if (secret) env[e.name] = secrets[`${secret.name}/${secret.key}`] ?? '';
  }
  return { argv: c.args ?? [], env };
}

const controllerInput = (objects: K8sObject[], secrets?: Record<string, string>) =>
  processInput(
    container(only(objects, 'Deployment')),
    { name: 'baton-controller-abc', namespace: NS, nodeName: 'n' },
    secrets,
  );
const agentInput = (objects: K8sObject[]) =>
  processInput(container(only(objects, 'DaemonSet')), {
    name: 'baton-agent-x',
    namespace: NS,
    nodeName: 'node-7',
  });

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Every rule granted to a ServiceAccount, with where it applies ("cluster" or a namespace). */
function rulesOf(objects: K8sObject[], serviceAccount: string): { scope: string; rule: Rule }[] {
  const out: { scope: string; rule: Rule }[] = [];
  for (const b of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const bound = (b.subjects as { kind: string; name: string; namespace: string }[]).some(
      (s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === NS,
    );
    if (!bound) continue;
    const role = only(objects, b.roleRef.kind, b.roleRef.name);
    const scope = b.kind === 'ClusterRoleBinding' ? 'cluster' : (b.metadata.namespace ?? NS);
    for (const rule of role.rules as Rule[]) out.push({ scope, rule });
  }
  return out;
}

const grants = (rules: { scope: string; rule: Rule }[], group: string, resource: string, verb: string) =>
  rules
    .filter(
      ({ rule }) =>
        (rule.apiGroups ?? []).includes(group) &&
        (rule.resources ?? []).includes(resource) &&
        rule.verbs.includes(verb),
    )
    .map((r) => r.scope);

describe('charts/baton', () => {
  beforeAll(async () => {
    await toolBinary('helm'); // builds it on a machine whose tool cache is empty
  }, 1_800_000);

  it('passes helm lint --strict, with the defaults and with every optional part on', async () => {
    const plain = await helm(['lint', '--strict', chartPath]);
    expect(plain.stderr + plain.stdout).toContain('0 chart(s) failed');
    expect(plain.ok).toBe(true);
    const full = await withValuesFile(
      {
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        controller: {
          notify: { secretName: 'hooks' },
          prometheusAuth: { bearerToken: { secretName: 'prom' } },
        },
        agent: { reboot: { method: 'signal' } },
      },
      (args) => helm(['lint', '--strict', chartPath, ...args]),
    );
    expect(full.ok, full.stderr).toBe(true);
  });

  describe('with the default values', () => {
    let objects: K8sObject[];
    beforeAll(async () => {
      const r = await renderChart();
      expect(r.ok, r.stderr).toBe(true);
      objects = r.objects;
    });

    it('renders the expected objects, each with the app.kubernetes.io labels', () => {
      const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      expect(kinds).toEqual(
        [
          'ClusterRole/baton-agent',
          'ClusterRole/baton-controller',
          'ClusterRole/baton-operator',
          'ClusterRole/baton-viewer',
          'ClusterRoleBinding/baton-agent',
          'ClusterRoleBinding/baton-controller',
          'ConfigMap/baton-dashboard',
          'DaemonSet/baton-agent',
          'Deployment/baton-controller',
          'PodDisruptionBudget/baton-controller',
          'Role/baton-agent',
          'Role/baton-controller',
          'Role/baton-events',
          'Role/baton-operator',
          'Role/baton-viewer',
          'RoleBinding/baton-agent',
          'RoleBinding/baton-controller',
          'RoleBinding/baton-events',
          'Service/baton-controller-metrics',
          'ServiceAccount/baton-agent',
          'ServiceAccount/baton-controller',
          'ValidatingAdmissionPolicy/baton-agent-own-node',
          'ValidatingAdmissionPolicyBinding/baton-agent-own-node',
          'ValidatingAdmissionPolicy/baton-controller-node-status',
          'ValidatingAdmissionPolicyBinding/baton-controller-node-status',
        ].sort(),
      );
      for (const o of objects) {
        expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({
          'app.kubernetes.io/name': 'baton',
          'app.kubernetes.io/instance': 'baton',
          'app.kubernetes.io/managed-by': 'Helm',
          'app.kubernetes.io/version': '0.1.0',
        });
      }
    });

    it('runs the controller as 2 leader-elected replicas meeting Pod Security "restricted", with a PDB', () => {
      const d = only(objects, 'Deployment');
      expect(d.spec.replicas).toBe(2);
      const pod = d.spec.template.spec;
      expect(pod.serviceAccountName).toBe('baton-controller');
      expect(pod.hostPID).toBeUndefined();
      // No BATON_…_SERVICE_HOST from a Service named baton-… (found by the real-node e2e).
      expect(pod.enableServiceLinks).toBe(false);
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container(d).securityContext).toEqual({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.volumes).toBeUndefined(); // no hostPath, nothing mounted but the token
      const pdb = only(objects, 'PodDisruptionBudget');
      expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: d.spec.selector });
    });

    it("gives the controller flags its own parser accepts: leader election on, the release's namespace", () => {
      const config = parseControllerConfig(controllerInput(objects));
      expect(config.leaderElect).toBe(true);
      expect(config.namespace).toBe(NS);
      expect(config.identity).toBe('baton-controller-abc');
      expect(config.metricsHost).toBe('0.0.0.0');
      expect(config.metricsPort).toBe(8080);
      expect(config.notifyUrl).toEqual([]);
    });

    it('runs the agent with hostPID, not privileged (command method), the sentinel directory read-only', () => {
      const ds = only(objects, 'DaemonSet');
      const pod = ds.spec.template.spec;
      expect(pod.serviceAccountName).toBe('baton-agent');
      expect(pod.hostPID).toBe(true);
      expect(pod.enableServiceLinks).toBe(false);
      expect(pod.hostNetwork).toBeUndefined();
      const c = container(ds);
      // Issue 16: nsenter into the host's mount namespace needs these three capabilities, no
      // more (scripts/host-privileges.ts proves it in a real container).
      expect(c.securityContext).toEqual({
        runAsUser: 0,
        readOnlyRootFilesystem: true,
        privileged: false,
        allowPrivilegeEscalation: false,
        appArmorProfile: { type: 'Unconfined' },
        capabilities: { drop: ['ALL'], add: Object.keys(HOST_COMMAND_CAPABILITIES) },
      });
      expect(pod.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.volumes).toEqual([
        { name: 'sentinel-dir', hostPath: { path: '/var/run', type: 'Directory' } },
      ]);
      expect(c.volumeMounts).toEqual([{ name: 'sentinel-dir', mountPath: '/host/var/run', readOnly: true }]);
      expect(pod.tolerations).toContainEqual({
        key: 'node-role.kubernetes.io/control-plane',
        operator: 'Exists',
        effect: 'NoSchedule',
      });
      expect(c.env).toContainEqual({
        name: 'NODE_NAME',
        valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
      });
    });

    it('gives the agent flags its own parser accepts: its node from the downward API, the container path of the sentinel', () => {
      const config = parseAgentConfig(agentInput(objects));
      expect(config.nodeId).toBe('node-7');
      expect(config.namespace).toBe(NS);
      expect(config.rebootSentinel).toBe('/host/var/run/reboot-required');
      expect(config.rebootMethod).toBe('command');
      expect(config.hostMountNamespace).toBe(true);
      expect(config.metricsPort).toBe(8081);
    });

    it('gives the agent no Lease write at all, and the controller Lease writes only in its namespace', () => {
      const agent = rulesOf(objects, 'baton-agent');
      const controller = rulesOf(objects, 'baton-controller');
      for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
        expect(grants(agent, 'coordination.k8s.io', 'leases', verb), `agent ${verb}`).toEqual([]);
      }
      expect(grants(agent, 'coordination.k8s.io', 'leases', 'watch')).toEqual([NS]);
      for (const verb of ['create', 'update']) {
        expect(grants(controller, 'coordination.k8s.io', 'leases', verb)).toEqual([NS]);
      }
      expect(grants(controller, 'coordination.k8s.io', 'leases', 'delete')).toEqual([]);
    });

    it('grants exactly the API calls each process makes, no Secrets, no wildcards', () => {
      for (const sa of ['baton-agent', 'baton-controller']) {
        for (const { rule } of rulesOf(objects, sa)) {
          expect(rule.resources).not.toContain('secrets');
          expect(rule.resources).not.toContain('*');
          expect(rule.verbs).not.toContain('*');
          expect(rule.apiGroups).not.toContain('*');
        }
      }
      const agent = rulesOf(objects, 'baton-agent');
      expect(grants(agent, '', 'nodes/status', 'patch')).toEqual(['cluster']);
      expect(grants(agent, '', 'nodes', 'update')).toEqual(['cluster']);
      expect(grants(agent, '', 'pods/eviction', 'create')).toEqual(['cluster']);
      expect(grants(agent, '', 'pods', 'delete')).toEqual([]);
      expect(grants(agent, '', 'pods', 'get')).toEqual([]); // the drain only lists
      // Events: events.k8s.io, create only, in default (where Node Events live).
      expect(grants(agent, 'events.k8s.io', 'events', 'create')).toEqual(['default']);
      expect(grants(agent, 'events.k8s.io', 'events', 'patch')).toEqual([]);
      expect(grants(agent, '', 'events', 'create')).toEqual([]);
      const controller = rulesOf(objects, 'baton-controller');
      expect(grants(controller, '', 'nodes', 'watch')).toEqual(['cluster']);
      expect(grants(controller, '', 'nodes', 'patch')).toEqual([]); // never cordons
      expect(grants(controller, '', 'nodes', 'update')).toEqual([]);
      expect(grants(controller, '', 'nodes/status', 'patch')).toEqual(['cluster']); // RebootGate
      expect(grants(controller, '', 'pods', 'watch')).toEqual(['cluster']); // blocking pods
      expect(grants(controller, '', 'pods/eviction', 'create')).toEqual([]);
      // The settle check: what a drain touched, read at the grant and while the node settles.
      expect(grants(controller, 'policy', 'poddisruptionbudgets', 'list')).toEqual(['cluster']);
      expect(grants(controller, 'policy', 'poddisruptionbudgets', 'get')).toEqual(['cluster']);
      expect(grants(controller, 'policy', 'poddisruptionbudgets', 'watch')).toEqual([]);
      for (const kind of ['deployments', 'statefulsets', 'replicasets']) {
        expect(grants(controller, 'apps', kind, 'get')).toEqual(['cluster']);
        expect(grants(controller, 'apps', kind, 'list')).toEqual([]);
        expect(grants(controller, 'apps', kind, 'update')).toEqual([]);
      }
      expect(grants(controller, 'events.k8s.io', 'events', 'create').sort()).toEqual(['baton', 'default']);
      expect(grants(controller, 'events.k8s.io', 'events', 'patch')).toEqual([]);
      // Leases: compare-and-swap updates only; no patch, no delete.
      expect(grants(controller, 'coordination.k8s.io', 'leases', 'update')).toEqual(['baton']);
      expect(grants(controller, 'coordination.k8s.io', 'leases', 'patch')).toEqual([]);
      expect(grants(controller, 'coordination.k8s.io', 'leases', 'delete')).toEqual([]);
    });

    it("binds the own-node admission policy to the agent's ServiceAccount and its token's node claim", () => {
      const policy = only(objects, 'ValidatingAdmissionPolicy', 'baton-agent-own-node');
      expect(policy.spec.failurePolicy).toBe('Fail');
      expect(policy.spec.matchConditions[0].expression).toBe(
        'request.userInfo.username == "system:serviceaccount:baton:baton-agent"',
      );
      expect(policy.spec.matchConstraints.resourceRules[0].resources).toEqual(['nodes', 'nodes/status']);
      expect(policy.spec.variables[0].expression).toContain(
        "request.userInfo.extra['authentication.kubernetes.io/node-name']",
      );
      const binding = only(objects, 'ValidatingAdmissionPolicyBinding', 'baton-agent-own-node');
      expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
      // Without labels configured, none may change; baton's own taint is the only one it owns.
      const vars = Object.fromEntries(
        policy.spec.variables.map((v: { name: string; expression: string }) => [v.name, v.expression]),
      );
      expect(vars.forbiddenLabels).toBe('variables.changedLabels.filter(k, !(k in []))');
      expect(vars.otherTaints).toContain("!(t.key in ['baton.dev/rebooting'])");
    });

    it("binds the controller's status policy to its ServiceAccount: the RebootGate condition only", () => {
      const policy = only(objects, 'ValidatingAdmissionPolicy', 'baton-controller-node-status');
      expect(policy.spec.failurePolicy).toBe('Fail');
      expect(policy.spec.matchConditions[0].expression).toBe(
        'request.userInfo.username == "system:serviceaccount:baton:baton-controller"',
      );
      const filters = policy.spec.variables.map((v: { expression: string }) => v.expression).join('\n');
      expect(filters).toContain("c.type != 'RebootGate'");
      const binding = only(objects, 'ValidatingAdmissionPolicyBinding', 'baton-controller-node-status');
      expect(binding.spec).toEqual({ policyName: policy.metadata.name, validationActions: ['Deny'] });
    });

    it("lets the agent's policy allow the labels and taint configured, and refuses a label Kubernetes reserves", async () => {
      const r = await renderChart({
        agent: {
          config: {
            preRebootNodeLabels: ['example.com/rebooting=true'],
            postRebootNodeLabels: ['example.com/rebooting=false', 'example.com/rebooted=yes'],
            preRebootTaint: 'example.com/maintenance=true:NoSchedule',
            preferNoScheduleTaint: 'example.com/reboot-pending',
            annotateNodes: true,
          },
        },
      });
      expect(r.ok, r.stderr).toBe(true);
      const policy = only(r.objects, 'ValidatingAdmissionPolicy', 'baton-agent-own-node');
      const vars = Object.fromEntries(
        policy.spec.variables.map((v: { name: string; expression: string }) => [v.name, v.expression]),
      );
      expect(vars.forbiddenLabels).toContain("['example.com/rebooting', 'example.com/rebooted']");
      expect(vars.otherTaints).toContain(
        "['baton.dev/rebooting', 'example.com/maintenance', 'example.com/reboot-pending']",
      );
      expect(vars.forbiddenAnnotations).toContain(
        "['weave.works/kured-reboot-in-progress', 'weave.works/kured-most-recent-reboot-needed']",
      );
      // Without annotateNodes, only baton.dev/ annotations.
      const plain = only(objects, 'ValidatingAdmissionPolicy', 'baton-agent-own-node');
      expect(JSON.stringify(plain.spec.variables)).not.toContain('weave.works');
      for (const key of ['node-restriction.kubernetes.io/pool', 'kubernetes.io/arch', 'node.k8s.io/x']) {
        const bad = await renderChart({ agent: { config: { preRebootNodeLabels: [`${key}=a`] } } });
        expect(bad.ok).toBe(false);
        expect(bad.stderr).toContain(
          `agent.config.preRebootNodeLabels: label "${key}" is in a namespace Kubernetes reserves`,
        );
      }
    });

    it('labels the dashboard ConfigMap for the Grafana sidecar, with valid JSON in it', () => {
      const cm = only(objects, 'ConfigMap');
      expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
      const dashboard = JSON.parse(cm.data['baton.json']);
      expect(dashboard.uid).toBe('baton-reboots');
      expect(dashboard.panels.length).toBeGreaterThan(3);
    });
  });

  describe('with non-default values', () => {
    it('runs the signal method without privileged mode: CAP_KILL only, no privilege escalation', async () => {
      const r = await renderChart({ agent: { reboot: { method: 'signal', signal: 39 } } });
      expect(r.ok, r.stderr).toBe(true);
      const ds = only(r.objects, 'DaemonSet');
      expect(ds.spec.template.spec.hostPID).toBe(true);
      expect(container(ds).securityContext).toEqual({
        runAsUser: 0,
        readOnlyRootFilesystem: true,
        privileged: false,
        allowPrivilegeEscalation: false,
        appArmorProfile: { type: 'Unconfined' },
        capabilities: { drop: ['ALL'], add: ['KILL'] },
      });
      const config = parseAgentConfig(agentInput(r.objects));
      expect(config.rebootMethod).toBe('signal');
      expect(config.rebootSignal).toBe(39);
    });

    it('adds the capabilities that enter the host for a sentinel command, and mounts no host directory then', async () => {
      const r = await renderChart({
        agent: { reboot: { method: 'signal' }, sentinel: { command: 'needs-restarting -r' } },
      });
      expect(r.ok, r.stderr).toBe(true);
      const ds = only(r.objects, 'DaemonSet');
      expect(container(ds).securityContext).toMatchObject({
        privileged: false,
        capabilities: { drop: ['ALL'], add: [...Object.keys(HOST_COMMAND_CAPABILITIES), 'KILL'] },
      });
      expect(ds.spec.template.spec.volumes).toBeUndefined();
      const config = parseAgentConfig(agentInput(r.objects));
      expect(config.rebootSentinelCommand).toEqual(['needs-restarting', '-r']);
    });

    it('runs a privileged agent only when asked (agent.privileged), as kured does', async () => {
      const r = await renderChart({ agent: { privileged: true } });
      expect(r.ok, r.stderr).toBe(true);
      expect(container(only(r.objects, 'DaemonSet')).securityContext).toEqual({
        runAsUser: 0,
        readOnlyRootFilesystem: true,
        privileged: true,
      });
    });

    it('maps a sentinel elsewhere on the host to its directory under /host', async () => {
      const r = await renderChart({ agent: { sentinel: { file: '/run/baton/needed' } } });
      const ds = only(r.objects, 'DaemonSet');
      expect(ds.spec.template.spec.volumes[0].hostPath.path).toBe('/run/baton');
      expect(container(ds).volumeMounts?.[0]?.mountPath).toBe('/host/run/baton');
      expect(parseAgentConfig(agentInput(r.objects)).rebootSentinel).toBe('/host/run/baton/needed');
    });

    it('passes controller.config and agent.config as flags: lists repeat the flag', async () => {
      const r = await renderChart({
        controller: {
          config: {
            concurrency: 2,
            rebootWindow: ['mo-fr 22:00-04:00', 'sa,su 0:00-23:59:59'],
            timeZone: 'Europe/Berlin',
            blackoutDate: ['2026-12-24', '2026-12-31'],
            settleTime: '5m',
            logFormat: 'text',
          },
        },
        agent: {
          config: { drainTimeout: '10m', drainPodSelector: 'app!=db', preRebootNodeLabels: ['a=b', 'c=d'] },
        },
      });
      expect(r.ok, r.stderr).toBe(true);
      const c = parseControllerConfig(controllerInput(r.objects));
      expect(c.concurrency).toBe(2);
      expect(c.windows).toHaveLength(2);
      expect(c.timeZone).toBe('Europe/Berlin');
      expect(c.blackoutDate).toHaveLength(2);
      expect(c.settleTime).toBe(300_000);
      expect(c.logFormat).toBe('text');
      const a = parseAgentConfig(agentInput(r.objects));
      expect(a.drainTimeout).toBe(600_000);
      expect(a.preRebootNodeLabels).toEqual([
        { key: 'a', value: 'b' },
        { key: 'c', value: 'd' },
      ]);
    });

    it('renders every config key as the flag of the same name, and every default as a value the process accepts', async () => {
      for (const [component, table, owned] of [
        ['controller', controllerOptions, chartOwnedFlags.controller],
        ['agent', agentOptions, chartOwnedFlags.agent],
      ] as const) {
        const config: Record<string, unknown> = {};
        const defaults: Record<string, unknown> = {};
        for (const def of table) {
          if ((owned as readonly string[]).includes(def.name)) continue;
          const key = camelCase(def.name);
          config[key] =
            def.kind === 'boolean'
              ? true
              : def.kind === 'repeatable'
                ? ['x']
                : key.endsWith('Url')
                  ? 'http://x'
                  : 'x';
          const d: OptionDef = def;
          if (d.kind === 'boolean') defaults[key] = d.default ?? false;
          else if (d.kind === 'single' && d.default !== undefined) defaults[key] = d.default;
        }
        const names = await renderChart({ [component]: { config } });
        expect(names.ok, names.stderr).toBe(true);
        const args: string[] =
          container(only(names.objects, component === 'controller' ? 'Deployment' : 'DaemonSet')).args ?? [];
        for (const key of Object.keys(config)) {
          const flag = table.find((d) => camelCase(d.name) === key)?.name;
          expect(
            args.some((a) => a.startsWith(`--${flag}=`)),
            `${key} -> --${flag}`,
          ).toBe(true);
        }
        const withDefaults = await renderChart({ [component]: { config: defaults } });
        expect(withDefaults.ok, withDefaults.stderr).toBe(true);
        if (component === 'controller')
          expect(() => parseControllerConfig(controllerInput(withDefaults.objects))).not.toThrow();
        else expect(() => parseAgentConfig(agentInput(withDefaults.objects))).not.toThrow();
      }
    });

    it('takes webhook URLs and Prometheus credentials only from Secrets, never into the manifest', async () => {
      const r = await renderChart({
        controller: {
          config: { prometheusUrl: 'https://prometheus.example:9090' },
          notify: { secretName: 'baton-hooks', key: 'urls' },
          prometheusAuth: {
            bearerToken: { secretName: 'prom-token', key: 'token' },
            ca: { secretName: 'prom-ca', key: 'ca.crt' },
          },
        },
      });
      expect(r.ok, r.stderr).toBe(true);
      const d = only(r.objects, 'Deployment');
      const c = container(d);
      expect(c.env).toContainEqual({
        name: 'BATON_NOTIFY_URL',
        valueFrom: { secretKeyRef: { name: 'baton-hooks', key: 'urls' } },
      });
      expect(d.spec.template.spec.volumes).toEqual([
        {
          name: 'prometheus-bearer-token',
          secret: { secretName: 'prom-token', items: [{ key: 'token', path: 'token' }] },
        },
        {
          name: 'prometheus-ca',
          secret: { secretName: 'prom-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
        },
      ]);
      expect(c.volumeMounts?.every((m) => m.readOnly)).toBe(true);
      const config = parseControllerConfig(
        controllerInput(r.objects, {
          'baton-hooks/urls': 'https://hooks.example/a\nhttps://hooks.example/b',
        }),
      );
      expect(config.notifyUrl).toHaveLength(2);
      expect(config.prometheusBearerTokenFile).toBe('/etc/baton/prometheus/bearer-token/token');
      expect(config.prometheusCaFile).toBe('/etc/baton/prometheus/ca/ca.crt');
      expect(r.stdout).not.toContain('hooks.example');
    });

    it('applies image, pull secrets, resources, nodeSelector, affinity, tolerations and priorityClass', async () => {
      const affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['infra'] }] }],
          },
        },
      };
      const r = await renderChart({
        imagePullSecrets: [{ name: 'regcred' }],
        controller: {
          image: { repository: 'registry.example/baton-controller', digest: `sha256:${'a'.repeat(64)}` },
          replicaCount: 3,
          resources: { limits: { memory: '128Mi' } },
          nodeSelector: { pool: 'infra' },
          affinity,
          priorityClassName: 'system-cluster-critical',
        },
        agent: {
          image: { repository: 'registry.example/baton-agent', tag: 'v9' },
          tolerations: [{ operator: 'Exists' }],
          priorityClassName: 'system-node-critical',
        },
      });
      expect(r.ok, r.stderr).toBe(true);
      const d = only(r.objects, 'Deployment');
      expect(d.spec.replicas).toBe(3);
      const pod = d.spec.template.spec;
      expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
      expect(pod.containers[0].image).toBe(`registry.example/baton-controller@sha256:${'a'.repeat(64)}`);
      expect(pod.containers[0].resources).toEqual({
        limits: { memory: '128Mi' },
        requests: { cpu: '10m', memory: '64Mi' },
      });
      expect(pod.nodeSelector).toEqual({ pool: 'infra' });
      expect(pod.affinity).toEqual(affinity);
      expect(pod.priorityClassName).toBe('system-cluster-critical');
      const ds = only(r.objects, 'DaemonSet').spec.template.spec;
      expect(ds.containers[0].image).toBe('registry.example/baton-agent:v9');
      expect(ds.imagePullSecrets).toEqual([{ name: 'regcred' }]);
      expect(ds.tolerations).toEqual([{ operator: 'Exists' }]);
      expect(ds.priorityClassName).toBe('system-node-critical');
    });

    it('renders the ServiceMonitor and PrometheusRule when asked, and drops the policies when told', async () => {
      const r = await renderChart({
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        agentNodePolicy: { enabled: false },
        controllerNodePolicy: { enabled: false },
      });
      expect(r.ok, r.stderr).toBe(true);
      const sm = only(r.objects, 'ServiceMonitor');
      expect(sm.spec.endpoints[0].port).toBe('metrics');
      expect(sm.spec.selector.matchLabels).toEqual(only(r.objects, 'Service').spec.selector);
      const rule = only(r.objects, 'PrometheusRule');
      expect(rule.spec.groups[0].rules.map((x: { alert: string }) => x.alert)).toEqual([
        'BatonRebootPendingTooLong',
        'BatonRolloutHalted',
        'BatonRebootStuck',
        'BatonControllerDown',
      ]);
      expect(r.objects.filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    });

    it('binds the viewer and operator roles to the subjects listed: Nodes cluster-wide, Leases in the release namespace only', async () => {
      const defaults = await renderChart();
      const noBindings = defaults.objects.filter(
        (o) => o.kind.endsWith('Binding') && /-(viewer|operator)$/.test(o.metadata.name),
      );
      expect(noBindings).toEqual([]); // none by default: the roles exist, bound by nobody
      const r = await renderChart({
        userRoles: {
          viewers: [{ kind: 'ServiceAccount', name: 'ci', namespace: 'tools' }],
          operators: [
            { kind: 'Group', name: 'sre' },
            { kind: 'User', name: 'ada@example.com' },
          ],
        },
      });
      expect(r.ok, r.stderr).toBe(true);
      const verbs = (kind: string, name: string) =>
        only(r.objects, kind, name).rules.map((x: { resources: string[]; verbs: string[] }) => [
          x.resources.join(),
          x.verbs.join(),
        ]);
      expect(verbs('ClusterRole', 'baton-viewer')).toEqual([['nodes', 'get,list,watch']]);
      expect(verbs('Role', 'baton-viewer')).toEqual([['leases', 'get,list,watch']]);
      expect(verbs('ClusterRole', 'baton-operator')).toEqual([['nodes', 'get,list,watch,patch']]);
      expect(verbs('Role', 'baton-operator')).toEqual([
        ['leases', 'get,list,watch,create,update'],
        ['leases', 'delete'],
      ]);
      // Delete only the pause Lease (kubectl baton resume): a slot is emptied, never deleted.
      expect(only(r.objects, 'Role', 'baton-operator').rules[1].resourceNames).toEqual(['baton-pause']);
      expect(only(r.objects, 'Role', 'baton-operator').metadata.namespace).toBe('baton');
      expect(only(r.objects, 'RoleBinding', 'baton-operator').subjects).toEqual([
        { kind: 'Group', name: 'sre', apiGroup: 'rbac.authorization.k8s.io' },
        { kind: 'User', name: 'ada@example.com', apiGroup: 'rbac.authorization.k8s.io' },
      ]);
      expect(only(r.objects, 'ClusterRoleBinding', 'baton-viewer').subjects).toEqual([
        { kind: 'ServiceAccount', name: 'ci', namespace: 'tools' },
      ]);
      const noNamespace = await renderChart({
        userRoles: { viewers: [{ kind: 'ServiceAccount', name: 'ci' }] },
      });
      expect(noNamespace.ok).toBe(false);
      expect(noNamespace.stderr).toContain('userRoles: a ServiceAccount subject needs its namespace');
      const badKind = await renderChart({ userRoles: { operators: [{ kind: 'Team', name: 'x' }] } });
      expect(badKind.ok).toBe(false);
      expect(badKind.stderr).toMatch(/userRoles\.operators\.0\.kind|userRoles\/operators\/0\/kind/);
    });

    it('refuses leader election off with more than one replica, and two kinds of Prometheus auth', async () => {
      const r = await renderChart({ controller: { leaderElection: { enabled: false } } });
      expect(r.ok).toBe(false);
      expect(r.stderr).toContain(
        'controller.leaderElection.enabled=false needs controller.replicaCount=1 (got 2)',
      );
      const single = await renderChart({
        controller: { replicaCount: 1, leaderElection: { enabled: false } },
      });
      expect(single.ok, single.stderr).toBe(true);
      expect(parseControllerConfig(controllerInput(single.objects)).leaderElect).toBe(false);
      const both = await renderChart({
        controller: {
          prometheusAuth: { bearerToken: { secretName: 'a' }, basicAuth: { secretName: 'b' } },
        },
      });
      expect(both.stderr).toContain('set bearerToken or basicAuth, not both');
      const plain = await renderChart({
        controller: { extraEnv: [{ name: 'BATON_NOTIFY_URL', value: 'https://hooks.example/token' }] },
      });
      expect(plain.ok).toBe(false);
      expect(plain.stderr).toContain('BATON_NOTIFY_URL carries tokens and comes only from a Secret');
    });
  });

  describe('values.schema.json', () => {
    it('is what scripts/chart-schema.ts renders from the option tables (run `pnpm run docs`)', async () => {
      expect(await readFile(chartSchemaPath, 'utf8')).toBe(renderChartSchema());
    });

    it.each([
      [{ controller: { replicaCount: 'two' } }, "at '/controller/replicaCount': got string, want integer"],
      [
        { controller: { config: { concurrency: true } } },
        "at '/controller/config/concurrency': got boolean, want integer or string",
      ],
      [
        { agent: { config: { drainTimeot: '5m' } } },
        "at '/agent/config': additional properties 'drainTimeot' not allowed",
      ],
      [{ agent: { reboot: { method: 'kexec' } } }, "at '/agent/reboot/method'"],
      [
        { controller: { config: { notifyUrl: ['https://x'] } } },
        "additional properties 'notifyUrl' not allowed",
      ],
      [{ controller: { config: { prometheusUrl: 'http://user:pw@prom:9090' } } }, 'does not match pattern'],
      [{ agent: { sentinel: { file: 'var/run/reboot-required' } } }, "at '/agent/sentinel/file'"],
    ])('rejects %j with a message naming the key', async (values, message) => {
      const r = await renderChart(values);
      expect(r.ok).toBe(false);
      expect(r.stderr).toContain("values don't meet the specifications of the schema");
      expect(r.stderr).toContain(message);
    });
  });
});

describe('docs/install.md', () => {
  const doc = readFileSync(join(chartPath, '..', '..', 'docs', 'install.md'), 'utf8');
  const schema = JSON.parse(readFileSync(chartSchemaPath, 'utf8')) as SchemaNode;
  const section = (title: string) => doc.slice(doc.indexOf(`## ${title}`)).split('\n## ')[0] ?? '';
  const rows = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('|---'))
      .slice(1)
      .map((l) => l.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, '')));
  const paths = (cell: string) => [...cell.matchAll(/`([a-zA-Z.*]+)`/g)].map((m) => m[1] as string);

  it("names, in the kured migration table, only baton values the chart's schema has", () => {
    const table = rows(section('Migrating from kured'));
    expect(table.length).toBeGreaterThan(30);
    for (const [, baton = ''] of table) {
      for (const path of paths(baton)) expect(resolve(schema, path), path).toBe(true);
    }
  });

  it("covers every kured chart value of kured's configuration block", () => {
    const kured = rows(section('Migrating from kured'))
      .map((r) => r[0] ?? '')
      .join(' ');
    // kured chart 6.1.0's configuration.* keys (docs reference: shared/reference/kured.md §4.1).
    for (const key of [
      'rebootSentinel',
      'useRebootSentinelHostPath',
      'rebootSentinelCommand',
      'period',
      'rebootDays',
      'startTime',
      'endTime',
      'timeZone',
      'concurrency',
      'lockReleaseDelay',
      'lockTtl',
      'lockAnnotation',
      'prometheusUrl',
      'alertFilterRegexp',
      'alertFilterMatchOnly',
      'alertFiringOnly',
      'blockingPodSelector',
      'forceReboot',
      'drainGracePeriod',
      'drainPodSelector',
      'drainDelay',
      'drainTimeout',
      'skipWaitForDeleteTimeout',
      'rebootMethod',
      'rebootCommand',
      'rebootSignal',
      'rebootDelay',
      'preRebootNodeLabels',
      'postRebootNodeLabels',
      'preferNoScheduleTaint',
      'annotateNodes',
      'notifyUrl',
      'slackHookUrl',
      'slackChannel',
      'slackUsername',
      'messageTemplateDrain',
      'metricsHost',
      'metricsPort',
      'logFormat',
    ]) {
      expect(kured, key).toContain(key);
    }
  });

  it('lists every top-level value of values.yaml in its reference', () => {
    const reference = section('Values');
    for (const [key, sub] of Object.entries(schema.properties ?? {})) {
      if (key === 'global') continue;
      const children = Object.keys(sub.properties ?? {});
      const named = children.length === 0 ? [key] : children.map((c) => `${key}.${c}`);
      for (const path of named) expect(reference, path).toContain(`\`${path}`);
    }
  });

  it('is linked from the README', () => {
    expect(readFileSync(join(chartPath, '..', '..', 'README.md'), 'utf8')).toContain('(docs/install.md)');
  });
});

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
}

/** True when `path` (dots, a trailing `*` for "any key below") names a value in the schema. */
function resolve(schema: SchemaNode, path: string): boolean {
  let node: SchemaNode | undefined = schema;
  for (const part of path.split('.')) {
    if (part === '*') return node?.properties !== undefined;
    node = node?.properties?.[part];
    if (node === undefined) return false;
  }
  return true;
}
