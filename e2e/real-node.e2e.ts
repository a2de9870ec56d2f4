/**
 * baton for real: the images built from Dockerfile.controller and Dockerfile.agent as they are
 * (e2e/tools/images.sh, buildah), and a real node (e2e/harness/real-node.ts: containerd, runc and
 * a kubelet built from k8s.io/kubernetes, in PID, mount and network namespaces of its own).
 *
 * - Each image is started once on its own (runc, e2e/harness/oci.ts): the agent without flags
 *   prints its configuration error; the controller runs as the image's non-root user on a
 *   read-only root filesystem, as the chart's controller pod with that pod's own token.
 * - `helm install` of the chart with those images: the agent's DaemonSet pod runs in containerd
 *   on the real node under the chart's securityContext, mounts, hostPID and RBAC. A touch of the
 *   node's /var/run/reboot-required leads to a grant, a drain of real containers (a preStop hook
 *   and a SIGTERM each, recorded, with the grace to finish), the chart's reboot command (here:
 *   ask the node's init to reboot), a new boot ID, the uncordon and the release.
 *
 * Where the machine cannot run a real node (not root, a program missing) the file is skipped
 * with the reason, unless BATON_REQUIRE_REAL_NODE=1 (CI sets it), which makes that a failure.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPhase, Annotation, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1Node,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chartPath, helm, toolBinary, withValuesFile } from '../scripts/chart.ts';
import { clusterEndpoint, freePort } from './harness/cluster.ts';
import { ensureImages, type Images, imageSize } from './harness/images.ts';
import { createFakeNodes, loadKubeConfig, mintPodToken, waitFor, waitForNodesReady } from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import { runStandalone, type StandaloneContainer } from './harness/oci.ts';
import { type RealNode, realNodeUnsupported, startRealNode } from './harness/real-node.ts';

const unsupported =
  realNodeUnsupported() ??
  (inject('ownCluster') ? undefined : 'E2E_KUBECONFIG names a cluster this machine did not start');
const required = process.env.BATON_REQUIRE_REAL_NODE === '1';
if (unsupported && !required)
  process.stderr.write(`[real-node.e2e] skipped, the machine cannot run a real node: ${unsupported}\n`);

/** Where the workload pods record their preStop hook, SIGTERM and exit: a directory of the node's. */
const RECORDS_ON_NODE = '/var/log/baton-e2e-records';
/** Seconds a workload pod takes after its SIGTERM before it exits (well within its grace). */
const WORK_AFTER_SIGTERM_S = 3;
const GRACE_S = 15;

/**
 * /proc/<pid>/status of the agent's process on the real node: the `node /app/main.mjs` whose PID
 * namespace is the node's (hostPID), found from this machine.
 */
function agentProcessStatus(node: RealNode): string {
  const init = node.initPid();
  if (init === undefined) throw new Error(`${node.name} is not running`);
  const nodePidNs = readlinkSync(`/proc/${init}/ns/pid`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmdline[0] !== 'node' || !cmdline.includes('/app/main.mjs')) continue;
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== nodePidNs) continue;
      return readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      // the process ended while it was read
    }
  }
  throw new Error(`no agent process (node /app/main.mjs) in ${node.name}'s PID namespace`);
}

const conditionOf = (n: V1Node) => n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);

describe.skipIf(unsupported !== undefined && !required)(
  'a real node with the images built from the Dockerfiles',
  () => {
    let kc: KubeConfig;
    let core: CoreV1Api;
    let ns: string;
    let dir: string;
    let images: Images;
    let node: RealNode | undefined;
    let controller: StandaloneContainer | undefined;
    let spare: string[] = [];
    const hex = randomBytes(2).toString('hex');
    const nodeName = `real-${hex}`;
    const release = `baton-${hex}`;
    const placeLabel = 'baton.dev/e2e-real';
    const agentPods = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=agent`;
    const controllerPods = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=controller`;
    const helmKube = () => ['--namespace', ns, '--kubeconfig', inject('kubeconfig')];

    beforeAll(async () => {
      if (unsupported)
        throw new Error(`BATON_REQUIRE_REAL_NODE=1, but the machine cannot run a real node: ${unsupported}`);
      kc = loadKubeConfig(inject('kubeconfig'));
      core = kc.makeApiClient(CoreV1Api);
      dir = await mkdtemp(join(tmpdir(), 'baton-real-node-e2e-'));
      images = await ensureImages();
      ns = await createTestNamespace(kc, 'real');
      node = await startRealNode({
        clusterDir: inject('clusterDir'),
        name: nodeName,
        kubelet: await toolBinary('kubelet'),
        images: [images.agent.archive, images.base.archive, images.pause.archive],
        labels: { [placeLabel]: hex },
      });
      const booted = node;
      await waitForNodesReady(kc, [nodeName], 120_000).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${booted.logs()}`);
      });
    }, 1_200_000);

    afterAll(async () => {
      await controller?.stop();
      if (ns) await helm(['uninstall', release, ...helmKube()]);
      await node?.stop();
      if (kc) {
        if (ns) await deleteTestNamespace(kc, ns);
        for (const name of [nodeName, ...spare]) await core.deleteNode({ name }).catch(() => undefined);
      }
      if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir} and ${node?.dir}\n`);
      else if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('the node is real: its own init as PID 1, containerd and the kubelet report it', async () => {
      node?.assertOwnInit();
      const n = await core.readNode({ name: nodeName });
      expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
      expect(n.status?.nodeInfo?.kubeletVersion).toBe('v1.35.4');
      expect(n.status?.nodeInfo?.bootID).toBe(await node?.bootId());
      expect(n.metadata?.annotations?.['kwok.x-k8s.io/node']).toBeUndefined();
    });

    it('the agent image, started on its own without flags, prints its configuration error', async () => {
      const agent = await runStandalone({
        image: images.agent.ref,
        name: 'agent-no-flags',
        dir,
        readOnlyRootFilesystem: true,
      });
      try {
        expect(await agent.process.exited).toBe('exit code 2');
        const out = readFileSync(agent.process.logPath, 'utf8');
        expect(out).toContain('baton-agent: invalid configuration, not starting:');
        expect(out).toContain('--node-id is required');
      } finally {
        await agent.stop();
      }
      // The README's sizes are the images' as built (to 5 %).
      const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
      for (const name of ['controller', 'agent'] as const) {
        const bytes = await imageSize(images[name].ref);
        process.stderr.write(`[real-node.e2e] baton-${name}: ${(bytes / 1e6).toFixed(1)} MB unpacked\n`);
        const stated = Number(new RegExp(`^\\| baton-${name} \\| (\\d+) MB \\|$`, 'm').exec(readme)?.[1]);
        expect(stated, `README's size of baton-${name}`).toBeGreaterThan(0);
        expect(
          Math.abs(bytes / 1e6 - stated) / stated,
          `baton-${name}: ${bytes} bytes, README ${stated} MB`,
        ).toBeLessThan(0.05);
      }
    });

    it('helm install with the images; a touch of the sentinel reboots the real node: real containers drained, a new boot ID, uncordoned, released', async () => {
      const real = node as RealNode;
      // The workload first, while only the real node can take it: two replicas of a Deployment
      // whose pods record their preStop hook, their SIGTERM and their exit on the node.
      const app = `graceful-${hex}`;
      const apps = kc.makeApiClient(AppsV1Api);
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name: app },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app } },
            template: {
              metadata: { labels: { app } },
              spec: {
                nodeSelector: { [placeLabel]: hex },
                terminationGracePeriodSeconds: GRACE_S,
                volumes: [
                  { name: 'records', hostPath: { path: RECORDS_ON_NODE, type: 'DirectoryOrCreate' } },
                ],
                containers: [
                  {
                    name: 'app',
                    image: images.base.ref,
                    imagePullPolicy: 'Never',
                    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
                    volumeMounts: [{ name: 'records', mountPath: '/records' }],
                    command: [
                      'node',
                      '-e',
                      [
                        "const fs = require('node:fs');",
                        "const note = (what) => fs.appendFileSync('/records/' + process.env.POD_NAME, what + ' ' + Date.now() + '\\n');",
                        "note('start');",
                        "process.on('SIGTERM', () => {",
                        "  note('sigterm');",
                        `  setTimeout(() => { note('exit'); process.exit(0); }, ${WORK_AFTER_SIGTERM_S * 1000});`,
                        '});',
                        'setInterval(() => {}, 1 << 30);',
                      ].join('\n'),
                    ],
                    lifecycle: {
                      preStop: {
                        exec: {
                          command: ['sh', '-c', 'echo "prestop $(date +%s%3N)" >> "/records/$POD_NAME"'],
                        },
                      },
                    },
                  },
                ],
              },
            },
          },
        },
      });
      await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
        namespace: ns,
        body: { metadata: { name: app }, spec: { maxUnavailable: 1, selector: { matchLabels: { app } } } },
      });
      const workload = await waitFor(
        `2 ${app} pods Running on ${nodeName}`,
        async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items;
          const running = pods.filter((p) => p.status?.phase === 'Running' && p.spec?.nodeName === nodeName);
          return running.length === 2 ? running.map((p) => p.metadata?.name as string) : undefined;
        },
        120_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${real.logs()}`);
      });

      // A fake node beside it: the controller's pods (run below as a real container, not by KWOK)
      // and the workload's replacements while the real node is cordoned.
      spare = await createFakeNodes(kc, { prefix: `spare-${hex}`, count: 1, labels: { [placeLabel]: hex } });
      await waitForNodesReady(kc, spare);

      const [repository, tag] = [
        images.agent.ref.slice(0, images.agent.ref.lastIndexOf(':')),
        images.agent.ref.slice(images.agent.ref.lastIndexOf(':') + 1),
      ];
      const [ctlRepository, ctlTag] = [
        images.controller.ref.slice(0, images.controller.ref.lastIndexOf(':')),
        images.controller.ref.slice(images.controller.ref.lastIndexOf(':') + 1),
      ];
      const values = {
        controller: {
          image: { repository: ctlRepository, tag: ctlTag, pullPolicy: 'Never' },
          replicaCount: 1,
          nodeSelector: { 'kubernetes.io/hostname': spare[0] },
          config: { period: '1s', settleTime: '1s' },
        },
        agent: {
          image: { repository, tag, pullPolicy: 'Never' },
          nodeSelector: { 'kubernetes.io/hostname': nodeName },
          // The node's "systemctl reboot": ask its init (PID 1 of the node) to reboot.
          reboot: { command: '/bin/kill -USR1 1' },
          config: { drainTimeout: '3m' },
        },
      };
      const installed = await withValuesFile(values, (args) =>
        helm(['install', release, chartPath, ...helmKube(), ...args]),
      );
      expect(installed.ok, installed.stderr).toBe(true);

      // The agent's DaemonSet pod: in containerd on the real node, Ready (its probes answered).
      const agentPod = await waitFor(
        `the agent pod Ready on ${nodeName}`,
        async () => {
          const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: agentPods })).items;
          const p = pods.find((x) => x.spec?.nodeName === nodeName);
          return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
            ? p
            : undefined;
        },
        180_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${real.logs()}`);
      });
      expect(agentPod.status?.containerStatuses?.[0]?.containerID).toMatch(/^containerd:\/\//);
      expect(agentPod.spec?.hostPID).toBe(true);
      // The chart's securityContext as runc applied it, read off the agent's process: root in the
      // node's PID namespace (hostPID), exactly the three capabilities of the command method, no
      // new privileges, the runtime's seccomp filter.
      const agentStatus = agentProcessStatus(real);
      expect(agentStatus).toMatch(/^Uid:\s+0\s/m);
      expect(agentStatus).toMatch(/^CapEff:\s+00000000002c0000$/m); // SYS_CHROOT, SYS_PTRACE, SYS_ADMIN
      expect(agentStatus).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(agentStatus).toMatch(/^Seccomp:\s+2$/m);

      // The controller: the image started on its own, as the chart's controller pod would be —
      // its args, its downward-API env, its ServiceAccount token bound to that pod — as the image's
      // non-root user on a read-only root filesystem.
      const ctlPod = await waitFor('the chart controller pod', async () => {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods })).items;
        return pods.find((p) => p.status?.phase === 'Running');
      });
      const deployment = await apps.readNamespacedDeployment({
        name: `${release}-controller`,
        namespace: ns,
      });
      const metricsPort = await freePort();
      const chartArgs = (deployment.spec?.template.spec?.containers[0]?.args ?? []).map((a) =>
        a.startsWith('--metrics-port=') ? `--metrics-port=${metricsPort}` : a,
      );
      const sa = join(dir, 'controller-serviceaccount');
      const { server, pki } = clusterEndpoint(inject('clusterDir'));
      const { token } = await mintPodToken(kc, {
        namespace: ns,
        serviceAccount: `${release}-controller`,
        pod: ctlPod.metadata?.name as string,
      });
      await rm(sa, { recursive: true, force: true });
      await mkdir(sa, { recursive: true });
      await writeFile(join(sa, 'token'), token);
      await writeFile(join(sa, 'ca.crt'), readFileSync(pki.caCert));
      await writeFile(join(sa, 'namespace'), ns);
      controller = await runStandalone({
        image: images.controller.ref,
        name: 'controller',
        dir,
        args: chartArgs,
        env: {
          KUBERNETES_SERVICE_HOST: '127.0.0.1',
          KUBERNETES_SERVICE_PORT: new URL(server).port,
          POD_NAMESPACE: ns,
          POD_NAME: ctlPod.metadata?.name as string,
          NODE_NAME: ctlPod.spec?.nodeName as string,
        },
        readOnlyRootFilesystem: true,
        mounts: [
          { source: sa, destination: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
        ],
      });
      const started = controller;
      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      await waitFor(
        'the controller image ready',
        async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).ok,
        60_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${readFileSync(started.process.logPath, 'utf8')}`);
      });
      const ctlPid = await started.pid();
      expect(ctlPid).toBeDefined();
      const status = readFileSync(`/proc/${ctlPid}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m); // the image's USER, not root
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(readFileSync(`/proc/${ctlPid}/mountinfo`, 'utf8')).toMatch(/^\S+ \S+ \S+ \S+ \/ ro[, ]/m); // root: read-only

      // The sentinel, touched on the node as a person (or unattended-upgrades) would.
      const bootBefore = await real.bootId();
      const machineSentinel = existsSync('/var/run/reboot-required');
      await real.exec(['touch', '/var/run/reboot-required']);
      await waitFor(
        `${nodeName} RebootRequired=True`,
        async () => conditionOf(await core.readNode({ name: nodeName }))?.status === 'True',
        60_000,
      );

      const done = await waitFor(
        `${nodeName} rebooted on a new boot, uncordoned and reported done`,
        async () => {
          const n = await core.readNode({ name: nodeName });
          const bootId = n.status?.nodeInfo?.bootID;
          return n.metadata?.annotations?.[Annotation.Phase] === AgentPhase.Rebooted &&
            conditionOf(n)?.status === 'False' &&
            bootId !== bootBefore &&
            !n.spec?.unschedulable
            ? n
            : undefined;
        },
        300_000,
      ).catch((err: unknown) => {
        throw new Error(
          `${String(err)}\n${real.logs()}\n--- controller\n${readFileSync(started.process.logPath, 'utf8').slice(-4000)}`,
        );
      });
      const bootAfter = await real.bootId();
      expect(done.status?.nodeInfo?.bootID).toBe(bootAfter);
      expect(bootAfter).not.toBe(bootBefore);
      // The reboot command reached the node's init, not this machine: the node booted again.
      expect(readFileSync(join(real.dir, 'log', 'machine.log'), 'utf8')).toMatch(/boot 2/);
      // The node's /var/run is its own: this machine's sentinel was never touched.
      expect(existsSync('/var/run/reboot-required')).toBe(machineSentinel);

      // Each drained container: its preStop hook ran, then its SIGTERM came, and it had the grace
      // to finish its work and exit on its own.
      for (const pod of workload) {
        const path = join(real.dir, 'varlog', RECORDS_ON_NODE.replace('/var/log/', ''), pod);
        const lines = readFileSync(path, 'utf8').trim().split('\n');
        const at = (what: string) => Number(lines.find((l) => l.startsWith(`${what} `))?.split(' ')[1]);
        expect(
          lines.map((l) => l.split(' ')[0]),
          `${pod}: ${lines.join(' | ')}`,
        ).toEqual(['start', 'prestop', 'sigterm', 'exit']);
        expect(at('sigterm')).toBeGreaterThanOrEqual(at('prestop'));
        expect(at('exit') - at('sigterm')).toBeGreaterThanOrEqual(WORK_AFTER_SIGTERM_S * 1000);
      }

      // The slot is given back.
      await waitFor(
        'the grant released',
        async () => {
          const text = await (await fetch(metricsUrl)).text();
          return (
            /^baton_grants_total 1$/m.test(text) && /^baton_releases_total\{reason="Settled"\} 1$/m.test(text)
          );
        },
        120_000,
      );
      const leases = (await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: ns })).items;
      const held = leases.filter((l) => l.metadata?.name?.startsWith('baton-slot') && l.spec?.holderIdentity);
      expect(held.map((l) => `${l.metadata?.name}=${l.spec?.holderIdentity}`)).toEqual([]);
      expect(
        await real.exec(['sh', '-c', 'test -e /var/run/reboot-required && echo present || echo gone']),
      ).toBe('gone\n');
    }, 900_000);
  },
);
