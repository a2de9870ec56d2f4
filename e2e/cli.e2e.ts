/**
 * kubectl baton on the real control plane: the executable (packages/cli/bin/kubectl-baton) runs
 * as a child process with a kubeconfig, as a person would run it, with no controller and no
 * agent running (it reads and writes Nodes and Leases itself). The agent's condition and the
 * controller's RebootGate condition are written here as those processes would write them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Annotation, grantOf, PAUSE_LEASE, PAUSE_REASON_ANNOTATION, SlotAnnotation } from '@baton/protocol';
import { isNotFound } from '@baton/runtime';
import { freeLocalPort, unreachableKubeconfig } from '@baton/runtime/test-support';
import {
  AuthenticationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1NodeCondition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController } from './harness/controller.ts';
import {
  createFakeNodes,
  loadKubeConfig,
  mergePatch,
  mintServiceAccountToken,
  strategicMerge,
  waitFor,
  writeTokenKubeconfig,
} from './harness/kube.ts';
import { grantSlot } from './harness/leases.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantControllerRbac, grantUserRbac } from './harness/rbac.ts';
import { ensureTools } from './harness/tools.ts';

const EXECUTABLE = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'packages',
  'cli',
  'bin',
  'kubectl-baton',
);

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real executable; the Node running the tests (24) comes first on PATH for its launcher. */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      EXECUTABLE,
      [...args],
      {
        env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, HOME: tmpdir(), ...env },
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Every command is a fresh Node process (about 2 s on an idle machine, far more on a loaded one):
// tests that run several get room.
describe('kubectl baton', { timeout: 300_000 }, () => {
  let kc: KubeConfig;
  let admin: string;
  let core: CoreV1Api;
  let leases: CoordinationV1Api;
  let ns: string;
  let dir: string;
  let nodes: string[];
  let me: string;
  let controller: ManagedProcess | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  /** As the cluster admin, against the test's namespace. */
  const cli = (...args: string[]) => run([...args, `--kubeconfig=${admin}`, '-n', ns]);
  const node = (i: number) => nodes[i] ?? '';
  /** The grant identity node 0 works under (written in the status test, as its agent would). */
  let node0Grant = '';

  async function setCondition(
    name: string,
    c: Omit<V1NodeCondition, 'lastTransitionTime' | 'lastHeartbeatTime'>,
  ) {
    const now = new Date().toISOString();
    await core.patchNodeStatus(
      { name, body: { status: { conditions: [{ ...c, lastTransitionTime: now, lastHeartbeatTime: now }] } } },
      strategicMerge,
    );
  }
  const annotate = (name: string, annotations: Record<string, string | null>) =>
    core.patchNode({ name, body: { metadata: { annotations } } }, mergePatch);
  const readPause = () =>
    leases.readNamespacedLease({ name: PAUSE_LEASE, namespace: ns }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });

  beforeAll(async () => {
    admin = inject('kubeconfig');
    kc = loadKubeConfig(admin);
    core = kc.makeApiClient(CoreV1Api);
    leases = kc.makeApiClient(CoordinationV1Api);
    ns = await createTestNamespace(kc, 'cli');
    dir = await mkdtemp(join(tmpdir(), 'baton-cli-e2e-'));
    nodes = await createFakeNodes(kc, { prefix: ns, count: 3 });
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    me = review.status?.userInfo?.username ?? '';
    expect(me).not.toBe('');
  });

  afterAll(async () => {
    await controller?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of nodes ?? []) await core.deleteNode({ name }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('status: a held grant, a pause and what holds each node back; -o json says the same', async () => {
    // node 0 is granted and draining; node 1 waits, held back by the pause (as the controller reports it).
    await setCondition(node(0), {
      type: 'RebootRequired',
      status: 'True',
      reason: 'SentinelPresent',
      message: 'x',
    });
    await setCondition(node(1), {
      type: 'RebootRequired',
      status: 'True',
      reason: 'RebootRequested',
      message: 'x',
    });
    await setCondition(node(1), {
      type: 'RebootGate',
      status: 'True',
      reason: 'Paused',
      message: `paused by manual:${me}`,
    });
    node0Grant = grantOf(await grantSlot(kc, ns, 'baton-slot-0', node(0), 600))?.identity ?? '';
    expect(node0Grant).toMatch(/^baton-slot-0\//);
    // As its agent records the work: the phase, under this very grant.
    await annotate(node(0), {
      [Annotation.Phase]: 'Draining',
      [Annotation.PhaseSince]: new Date().toISOString(),
      [Annotation.Grant]: node0Grant,
    });
    const paused = await cli('pause', '--for', '1h', '--reason', 'change freeze');
    expect(paused).toMatchObject({ code: 0, stderr: '' });
    expect(paused.stdout).toContain(`Paused by manual:${me}: no new reboot grants until `);
    expect(paused.stdout).toContain(
      `Already granted, and finishing their reboot: ${node(0)} (baton-slot-0).`,
    );

    const text = await cli('status', node(0), node(1), node(2));
    expect(text).toMatchObject({ code: 0, stderr: '' });
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^Pause: paused by manual:${me} until \\S+ \\(in \\d+m\\); reason: change freeze$`),
    );
    expect(lines).toContain(`Slots (namespace ${ns}):`);
    // A grant does not expire by the clock: the table says when the Lease was last renewed.
    expect(text.stdout).toMatch(/^SLOT\s+HOLDER\s+RENEWED$/m);
    expect(text.stdout).toMatch(new RegExp(`baton-slot-0\\s+${node(0)}\\s+\\S+ ago$`, 'm'));
    expect(text.stdout).toMatch(
      new RegExp(`${node(0)}\\s+yes\\s+Draining\\s+baton-slot-0\\s+-\\s+\\S+$`, 'm'),
    );
    expect(text.stdout).toMatch(new RegExp(`${node(1)}\\s+yes\\s+-\\s+-\\s+Paused\\s+\\S+$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`${node(2)}\\s+unreported\\s+-\\s+-\\s+-\\s+-`));

    const json = await cli('status', '-o', 'json', node(0), node(1), node(2));
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({
      kind: 'BatonStatus',
      version: 1,
      namespace: ns,
      pause: { paused: true, holder: `manual:${me}`, reason: 'change freeze' },
      slots: [{ name: 'baton-slot-0', index: 0, holder: node(0), valid: true }],
    });
    expect(new Date(report.pause.until).getTime() - Date.now()).toBeGreaterThan(50 * 60_000);
    expect(report.nodes.map((n: { name: string }) => n.name)).toEqual([node(0), node(1), node(2)]);
    expect(report.nodes[0]).toMatchObject({
      needsReboot: 'yes',
      phase: 'Draining',
      slot: 'baton-slot-0',
      granted: true,
    });
    expect(report.nodes[1]).toMatchObject({
      needsReboot: 'yes',
      blocked: 'Paused',
      gate: { status: 'True', reason: 'Paused', message: `paused by manual:${me}` },
      granted: false,
    });
    expect(report.nodes[2]).toMatchObject({ needsReboot: 'unreported', rebootRequired: null, gate: null });
  });

  it('why: a node held back by the pause and its opt-out label, every gate in words', async () => {
    await core.patchNode(
      { name: node(2), body: { metadata: { labels: { 'baton.dev/opt-out': 'true' } } } },
      mergePatch,
    );
    await setCondition(node(2), {
      type: 'RebootRequired',
      status: 'True',
      reason: 'SentinelPresent',
      message: 'x',
    });
    const text = await cli('why', node(2));
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout.split('\n')[0]).toBe(
      `${node(2)} will not be granted a reboot now; held back by: opt-out, pause`,
    );
    expect(text.stdout).toMatch(
      /reboot-required\s+ok\s+needs a reboot: RebootRequired=True \(SentinelPresent\)/,
    );
    expect(text.stdout).toMatch(/opt-out\s+BLOCKS\s+opted out: label baton.dev\/opt-out=true/);
    expect(text.stdout).toMatch(
      new RegExp(`pause\\s+BLOCKS\\s+paused by manual:${me} until .* reason: change freeze`),
    );
    expect(text.stdout).toMatch(/grant\s+-\s+no grant; 1 of 1 slot Lease\(s\) held \(baton-slot-0: /);
    expect(text.stdout).toMatch(/controller\s+-\s+the controller has not reported on this node/);

    const json = JSON.parse((await cli('why', node(2), '-o', 'json')).stdout);
    const verdicts = Object.fromEntries(
      json.gates.map((g: { gate: string; verdict: string }) => [g.gate, g.verdict]),
    );
    expect(verdicts).toMatchObject({
      'reboot-required': 'pass',
      'opt-out': 'block',
      pause: 'block',
      grant: 'info',
    });

    // And the granted node: may reboot now, cordon state read from the Node.
    await core.patchNode({ name: node(0), body: { spec: { unschedulable: true } } }, mergePatch);
    const granted = await cli('why', node(0));
    expect(granted.stdout.split('\n')[0]).toBe(
      `${node(0)} holds baton-slot-0: it may reboot now (phase Draining)`,
    );
    expect(granted.stdout).toMatch(/cordon\s+-\s+cordoned, by baton for this reboot/);
  });

  it('pause and resume: the pause Lease appears and disappears', async () => {
    expect((await cli('resume')).stdout).toMatch(
      new RegExp(`^Resumed: the pause by manual:${me} \\(change freeze\\) is lifted`),
    );
    expect(await readPause()).toBeUndefined();
    expect((await cli('resume')).stdout).toBe(
      `Not paused: there is no ${PAUSE_LEASE} Lease in namespace ${ns}.\n`,
    );

    expect((await cli('pause')).code).toBe(0);
    const lease = await readPause();
    expect(lease?.spec?.holderIdentity).toBe(`manual:${me}`);
    expect(lease?.spec?.leaseDurationSeconds).toBeUndefined(); // until resumed
    expect(lease?.metadata?.annotations?.[PAUSE_REASON_ANNOTATION]).toBeUndefined();
    expect(lease?.metadata?.labels?.['app.kubernetes.io/part-of']).toBe('baton');
    expect((await cli('status', node(0))).stdout.split('\n')[0]).toBe(
      `Pause: paused by manual:${me} (until resumed)`,
    );

    expect((await cli('resume')).code).toBe(0);
    expect(await readPause()).toBeUndefined();
    expect((await cli('status', node(0))).stdout.split('\n')[0]).toBe('Pause: not paused');
  });

  it('release: a slot by name; a node mid-reboot only with --force', async () => {
    await grantSlot(kc, ns, 'baton-slot-1', node(1), 600);
    // As the controller records its grants: released with the holder.
    await leases.patchNamespacedLease(
      {
        name: 'baton-slot-1',
        namespace: ns,
        body: {
          metadata: {
            annotations: {
              [SlotAnnotation.GrantedNode]: node(1),
              [SlotAnnotation.GrantedNodeWasUnschedulable]: 'false',
            },
          },
        },
      },
      mergePatch,
    );
    const bySlot = await cli('release', 'baton-slot-1');
    expect(bySlot).toMatchObject({ code: 0, stdout: `Released baton-slot-1 (was held by ${node(1)}).\n` });
    const slot1 = await leases.readNamespacedLease({ name: 'baton-slot-1', namespace: ns });
    expect(slot1.spec?.holderIdentity ?? '').toBe('');
    expect(slot1.spec?.leaseDurationSeconds).toBe(600);
    expect(slot1.metadata?.annotations?.[SlotAnnotation.GrantedNode]).toBeUndefined();
    expect(slot1.metadata?.annotations?.[SlotAnnotation.GrantedNodeWasUnschedulable]).toBeUndefined();
    expect(slot1.metadata?.annotations?.[SlotAnnotation.GrantId]).toBeUndefined();
    expect((await cli('release', 'baton-slot-1')).stdout).toBe('baton-slot-1 is already free.\n');

    // node 0 is Draining under baton-slot-0: refused without --force, and nothing changes.
    const refused = await cli('release', node(0));
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(
      new RegExp(`refused: ${node(0)} is mid-reboot \\(phase Draining since .*Re-run with --force`),
    );
    expect(
      (await leases.readNamespacedLease({ name: 'baton-slot-0', namespace: ns })).spec?.holderIdentity,
    ).toBe(node(0));

    // --force empties the slot and gives up on the node's grant: the controller stops counting
    // it as mid-reboot (its own record would otherwise keep it counted as holding a slot).
    const forced = await cli('release', node(0), '--force');
    expect(forced).toMatchObject({
      code: 0,
      stdout: `Released baton-slot-0 (was held by ${node(0)}).\nGave up on ${node(0)} (${Annotation.GivenUp}=${node0Grant}): it no longer counts as holding a slot.\n`,
    });
    expect(forced.stderr).toMatch(/^warning: .* is mid-reboot .*releasing anyway \(--force\)/);
    const slot0 = await leases.readNamespacedLease({ name: 'baton-slot-0', namespace: ns });
    expect(slot0.spec?.holderIdentity ?? '').toBe('');
    // Emptied as the controller empties a slot: no grant record left behind.
    expect(slot0.metadata?.annotations?.[SlotAnnotation.GrantId]).toBeUndefined();
    const given = (await core.readNode({ name: node(0) })).metadata?.annotations ?? {};
    expect(given[Annotation.GivenUp]).toBe(node0Grant);
    // The node's own record is the agent's: the CLI leaves it alone.
    expect(given[Annotation.Phase]).toBe('Draining');
    expect(given[Annotation.Grant]).toBe(node0Grant);

    const nothing = await cli('release', node(0));
    expect(nothing.code).toBe(5);
    expect(nothing.stderr).toMatch(new RegExp(`node "${node(0)}" holds no slot in namespace ${ns}`));

    // A node mid-reboot whose slot Lease was emptied by hand still counts as holding a slot, by
    // its own record: releasing it (giving up on it) needs --force too.
    const orphan = `baton-slot-1/${'a'.repeat(8)}-orphan`;
    await annotate(node(1), {
      [Annotation.Phase]: 'Rebooting',
      [Annotation.PhaseSince]: new Date().toISOString(),
      [Annotation.Grant]: orphan,
      [Annotation.RebootFromBootId]: 'boot-before',
    });
    const orphanRefused = await cli('release', node(1));
    expect(orphanRefused.code).toBe(6);
    expect(orphanRefused.stderr).toMatch(
      new RegExp(
        `refused: ${node(1)} is mid-reboot \\(phase Rebooting, grant ${orphan}; no slot Lease names it any more\\).*--force`,
      ),
    );
    expect(
      (await core.readNode({ name: node(1) })).metadata?.annotations?.[Annotation.GivenUp],
    ).toBeUndefined();
    const orphanForced = await cli('release', node(1), '--force');
    expect(orphanForced).toMatchObject({
      code: 0,
      stdout: `Gave up on ${node(1)} (${Annotation.GivenUp}=${orphan}): it no longer counts as holding a slot.\n`,
    });
    expect((await core.readNode({ name: node(1) })).metadata?.annotations?.[Annotation.GivenUp]).toBe(orphan);
    // Given up: nothing left to release.
    expect((await cli('release', node(1))).code).toBe(5);
    await annotate(node(1), {
      [Annotation.Phase]: null,
      [Annotation.PhaseSince]: null,
      [Annotation.Grant]: null,
      [Annotation.RebootFromBootId]: null,
      [Annotation.GivenUp]: null,
    });
  });

  it('request and cancel: the reboot-requested annotation names who asked', async () => {
    const requested = await cli('request', node(2));
    expect(requested.code).toBe(0);
    const annotation = async () =>
      (await core.readNode({ name: node(2) })).metadata?.annotations?.['baton.dev/reboot-requested'];
    expect(await annotation()).toBe(me);
    expect((await cli('request', node(2))).stdout).toMatch(/already requested \(by ".*"\); nothing changed/);
    expect((await cli('why', node(2))).stdout).toMatch(
      new RegExp(`request\\s+-\\s+a reboot was requested by "${me}"`),
    );

    expect(await cli('cancel', node(2))).toMatchObject({
      code: 0,
      stdout: `Cancelled the reboot request on ${node(2)} (was "${me}").\n`,
    });
    expect(await annotation()).toBeUndefined();
    expect((await cli('cancel', node(2))).stdout).toBe(
      `No reboot request on ${node(2)}; nothing to cancel.\n`,
    );
  });

  it('unknown node or slot: exit 5 with the name', async () => {
    const missing = `${ns}-missing`;
    for (const args of [
      ['why', missing],
      ['request', missing],
      ['cancel', missing],
      ['status', missing],
    ]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(5);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`unknown node.*${missing}`));
    }
    const slot = await cli('release', 'baton-slot-9');
    expect(slot.code).toBe(5);
    expect(slot.stderr).toMatch(new RegExp(`unknown slot "baton-slot-9": no such Lease in namespace ${ns}`));
    const neither = await cli('release', missing);
    expect(neither.code).toBe(5);
    expect(neither.stderr).toMatch(/unknown slot or node/);
  });

  it('a user without rights: exit 4, naming the verb and the resource', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const token = await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: 'nobody' });
    const kubeconfig = await writeTokenKubeconfig(kc, token, join(dir, 'nobody.kubeconfig'));
    const who = `system:serviceaccount:${ns}:nobody`;

    const status = await run(['status', '-n', ns], { KUBECONFIG: kubeconfig });
    expect(status.code).toBe(4);
    // Nodes and Leases are read in parallel: whichever refusal answers first is reported.
    expect(status.stderr).toMatch(
      new RegExp(
        `^kubectl baton: no rights: you may not (list nodes \\(needed to list nodes\\); ask for a ClusterRole|list leases.coordination.k8s.io in namespace ${ns} \\(needed to list leases.coordination.k8s.io in namespace ${ns}\\); ask for a Role in namespace ${ns})`,
      ),
    );
    expect(status.stderr).toContain(who);

    const pause = await run(['pause', '-n', ns, `--kubeconfig=${kubeconfig}`]);
    expect(pause.code).toBe(4);
    expect(pause.stderr).toMatch(
      new RegExp(
        `no rights: you may not get leases.coordination.k8s.io in namespace ${ns} \\(needed to get leases.coordination.k8s.io "baton-pause" in namespace ${ns}\\); ask for a Role in namespace ${ns}`,
      ),
    );
    expect(await readPause()).toBeUndefined();

    const request = await run(['request', node(1), `--kubeconfig=${kubeconfig}`]);
    expect(request.code).toBe(4);
    expect(request.stderr).toMatch(
      new RegExp(`no rights: you may not get nodes \\(needed to get nodes "${node(1)}"\\)`),
    );
  });

  it("the chart's viewer and operator roles: each command works with exactly its role", async () => {
    const kubeconfigFor = async (sa: string, role: 'viewer' | 'operator') => {
      cleanups.push(await grantUserRbac(kc, ns, sa, role));
      const token = await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: sa });
      return writeTokenKubeconfig(kc, token, join(dir, `${sa}.kubeconfig`));
    };
    const viewer = await kubeconfigFor('viewer', 'viewer');
    const operator = await kubeconfigFor('operator', 'operator');
    const as = (kubeconfig: string, ...args: string[]) =>
      run([...args, `--kubeconfig=${kubeconfig}`, '-n', ns]);

    // The viewer reads everything and changes nothing.
    expect((await as(viewer, 'status')).code).toBe(0);
    expect((await as(viewer, 'status', '-o', 'json')).code).toBe(0);
    expect((await as(viewer, 'why', node(2))).code).toBe(0);
    const viewerPause = await as(viewer, 'pause');
    expect(viewerPause.code).toBe(4);
    expect(viewerPause.stderr).toMatch(/no rights: you may not create leases.coordination.k8s.io/);
    expect(await readPause()).toBeUndefined();
    const viewerRequest = await as(viewer, 'request', node(2));
    expect(viewerRequest.code).toBe(4);
    expect(viewerRequest.stderr).toMatch(/no rights: you may not patch nodes/);

    // The operator runs every command.
    for (const args of [
      ['status'],
      ['why', node(2)],
      ['pause', '--for', '1h', '--reason', 'operator role test'],
      ['resume'],
      ['request', node(2)],
      ['cancel', node(2)],
    ]) {
      const r = await as(operator, ...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    await grantSlot(kc, ns, 'baton-slot-5', node(2), 600);
    const release = await as(operator, 'release', 'baton-slot-5');
    expect(release.code, release.stderr).toBe(0);
    const slot = await leases.readNamespacedLease({ name: 'baton-slot-5', namespace: ns });
    expect(slot.spec?.holderIdentity ?? '').toBe('');
    expect(await readPause()).toBeUndefined();
  });

  it('kubectl runs it as a plugin: kubectl-baton on the PATH, through a symlink', async () => {
    const { kubectl } = await ensureTools();
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    await symlink(EXECUTABLE, join(bin, 'kubectl-baton'));
    const result = await new Promise<Result>((resolve) => {
      execFile(
        kubectl,
        ['baton', 'status', node(0), '-n', ns],
        {
          env: {
            PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
            HOME: dir,
            KUBECONFIG: admin,
          },
          timeout: 60_000,
        },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
      );
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^${node(0)}\\s+yes\\s`, 'm'));
  });

  it('no cluster: an unreachable API server and a missing kubeconfig exit 3', async () => {
    const unreachable = await unreachableKubeconfig(dir);
    const r = await run(['status', `--kubeconfig=${unreachable}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^kubectl baton: cannot reach the API server at https:\/\/127.0.0.1:1 \(fetch failed: /,
    );
    // A port where nothing listens: the connection is refused.
    const port = await freeLocalPort();
    const closed = await writeFile(
      join(dir, 'closed.kubeconfig'),
      (await readFile(unreachable, 'utf8')).replace('https://127.0.0.1:1', `https://127.0.0.1:${port}`),
    ).then(() => join(dir, 'closed.kubeconfig'));
    const refused = await run(['status', `--kubeconfig=${closed}`]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(
      new RegExp(`cannot reach the API server at https://127.0.0.1:${port} \\(.*ECONNREFUSED`),
    );
    const viaEnv = await run(['why', 'x'], { KUBECONFIG: unreachable });
    expect(viaEnv.code).toBe(3);
    const none = await run(['status'], { HOME: dir });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no cluster: no --kubeconfig, no KUBECONFIG and no /);
    const context = await run(['status', `--kubeconfig=${admin}`, '--context', 'nope']);
    expect(context.code).toBe(3);
    // One line naming the file and the contexts it has.
    expect(context.stderr).toBe(
      `kubectl baton: --context nope: no such context in kubeconfig ${admin} (contexts: ${kc
        .getContexts()
        .map((c) => c.name)
        .join(', ')})\n`,
    );
  });

  it('with the real controller running: shows the RebootGate it writes, and its grant after resume', async () => {
    const gate = async (i: number) =>
      (await core.readNode({ name: node(i) })).status?.conditions?.find((c) => c.type === 'RebootGate');
    expect((await cli('pause', '--reason', 'controller test')).code).toBe(0);
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    controller = (
      await startController(kc, {
        namespace: ns,
        serviceAccount: 'baton-controller',
        dir,
        args: ['--concurrency=1'],
      })
    ).process;
    await waitFor('the controller to explain node 1 (paused) and node 2 (opted out)', async () => {
      const [g1, g2] = [await gate(1), await gate(2)];
      return (
        g1?.reason === 'Paused' && g1.message?.includes('paused by manual:') && g2?.reason === 'OptedOut'
      );
    });
    const why2 = await cli('why', node(2));
    expect(why2.stdout).toMatch(
      /controller\s+BLOCKS\s+the controller holds it back: OptedOut: .*baton.dev\/opt-out/,
    );
    const status = await cli('status', node(1), node(2));
    expect(status.stdout).toMatch(new RegExp(`${node(1)}\\s+yes\\s+-\\s+-\\s+Paused\\s`));
    expect(status.stdout).toMatch(new RegExp(`${node(2)}\\s+yes\\s+-\\s+-\\s+OptedOut\\s`));

    expect((await cli('resume')).code).toBe(0);
    const holder = await waitFor('a grant after the resume', async () => {
      const report = JSON.parse((await cli('status', '-o', 'json', node(0), node(1), node(2))).stdout);
      const granted = report.nodes.find((n: { granted: boolean }) => n.granted);
      return granted?.gate?.reason === 'Granted' ? (granted.name as string) : undefined;
    });
    // Node 0 was given up on (release --force above) and its agent has not reported back: the
    // controller does not grant it again meanwhile, and says why.
    expect(holder).toBe(node(1));
    expect((await cli('why', holder)).stdout.split('\n')[0]).toMatch(
      new RegExp(`^${holder} holds baton-slot-0: it may reboot now`),
    );
    await waitFor('node 0 held back as given up on', async () => (await gate(0))?.reason === 'GivenUp');
    expect((await cli('why', node(0))).stdout).toMatch(
      new RegExp(`controller\\s+BLOCKS\\s+the controller holds it back: GivenUp: .*${node0Grant}`),
    );
    // Its agent reports back (it undid its work): now node 0 waits for the one slot, in the
    // controller's words.
    await annotate(node(0), {
      [Annotation.Phase]: 'Aborted',
      [Annotation.PhaseSince]: new Date().toISOString(),
    });
    await waitFor('node 0 to wait for a slot', async () => (await gate(0))?.reason === 'WaitingForSlot');
    expect((await cli('why', node(0))).stdout).toMatch(
      /controller\s+BLOCKS\s+the controller holds it back: WaitingForSlot: /,
    );
  });
});
