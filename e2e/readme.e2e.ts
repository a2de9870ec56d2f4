/**
 * Every command of README.md that is not the demo's or `./run test` itself, run as written (the
 * placeholders NODE and <registry> filled in) on the real control plane: `helm install` of the
 * chart exactly as the README gives it, then each command in the README's order, in a bash with
 * the user's PATH (kubectl, helm, the kubectl-baton plugin as the README says to put it there).
 * Each must exit 0; where the README says what a command does, the cluster is checked for it
 * afterwards, and where it needs a situation (a slot held, a node mid-reboot) the situation is
 * made first. A command added to the README is run here by default.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Annotation, grantOf, PAUSE_LEASE } from '@baton/protocol';
import { isNotFound } from '@baton/runtime';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { helm } from '../scripts/chart.ts';
import { createFakeNodes, loadKubeConfig, mergePatch, waitFor, waitForNodesReady } from './harness/kube.ts';
import { grantSlot, holdLease } from './harness/leases.ts';
import { ensureTools } from './harness/tools.ts';
import { fillPlaceholders, planFor, type ReadmeCommand, readmeCommands } from './readme.ts';

const root = join(import.meta.dirname, '..');
/** The README installs into this namespace and release; the test owns them while it runs. */
const NAMESPACE = 'baton';
const RELEASE = 'baton';

interface Shell {
  readonly code: number;
  readonly out: string;
}

function bash(script: string, env: NodeJS.ProcessEnv): Promise<Shell> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', `set -eo pipefail\n${script}`],
      { cwd: root, env, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe.skipIf(!inject('ownCluster'))('the README, command by command', { timeout: 900_000 }, () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leases: CoordinationV1Api;
  let node: string;
  let env: NodeJS.ProcessEnv;
  const commands = readmeCommands(readFileSync(join(root, 'README.md'), 'utf8')).filter(
    (c) => planFor(c).by === 'readme',
  );

  const lease = (name: string) =>
    leases.readNamespacedLease({ name, namespace: NAMESPACE }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  const holder = async (name: string) => (await lease(name))?.spec?.holderIdentity ?? '';
  const annotations = async () => (await core.readNode({ name: node })).metadata?.annotations ?? {};
  const labels = async () => (await core.readNode({ name: node })).metadata?.labels ?? {};
  const annotate = (annotations: Record<string, string | null>) =>
    core.patchNode({ name: node, body: { metadata: { annotations } } }, mergePatch);
  /** The grant the node is mid-reboot under in the `release NODE --force` fixture. */
  let midReboot = '';

  /**
   * What some commands need first and what they must have done, by the command as the README
   * writes it. A fixture for a command the README no longer has fails the test (no dead checks).
   */
  const fixtures: Record<string, { before?: () => Promise<unknown>; after?: () => Promise<void> }> = {
    'kubectl -n baton create -f - <<EOF': {
      before: () =>
        leases.deleteNamespacedLease({ name: 'baton-slot-0', namespace: NAMESPACE }).catch(() => 0),
      // The Lease written by hand is a grant by the protocol's rule: the node and a grant id.
      after: async () => {
        const written = await lease('baton-slot-0');
        expect(written?.spec?.holderIdentity).toBe(node);
        expect(written === undefined ? undefined : grantOf(written)?.holder).toBe(node);
      },
    },
    'kubectl baton pause --for 48h --reason "change freeze"': {
      after: async () => {
        const pause = await lease(PAUSE_LEASE);
        expect(pause?.spec?.leaseDurationSeconds).toBe(48 * 3600);
        expect(pause?.spec?.holderIdentity).toMatch(/^manual:/);
      },
    },
    'kubectl baton resume': { after: async () => expect(await lease(PAUSE_LEASE)).toBeUndefined() },
    'kubectl apply -f - <<EOF': {
      after: async () => expect(await holder(PAUSE_LEASE)).toMatch(/^manual:\S+/),
    },
    'kubectl -n baton delete lease baton-pause': {
      after: async () => expect(await lease(PAUSE_LEASE)).toBeUndefined(),
    },
    'kubectl baton pause': { after: async () => expect(await holder(PAUSE_LEASE)).toMatch(/^manual:/) },
    'kubectl label node NODE baton.dev/opt-out=true': {
      after: async () => expect((await labels())['baton.dev/opt-out']).toBe('true'),
    },
    'kubectl label node NODE baton.dev/opt-out-': {
      after: async () => expect((await labels())['baton.dev/opt-out']).toBeUndefined(),
    },
    'kubectl -n baton get lease baton-controller-leader': {
      // As the controller's leader election writes it (no controller runs in this test).
      before: () =>
        holdLease(kc, NAMESPACE, 'baton-controller-leader', 'baton-controller-7d9f-abcde', 15).catch(() => 0),
    },
    'kubectl baton release NODE --force': {
      // A node mid-reboot, as its agent records it: phase Rebooting under the grant it holds.
      before: async () => {
        midReboot = grantOf(await grantSlot(kc, NAMESPACE, 'baton-slot-1', node, 600))?.identity ?? '';
        expect(midReboot).not.toBe('');
        await annotate({
          [Annotation.Phase]: 'Rebooting',
          [Annotation.Grant]: midReboot,
          [Annotation.RebootFromBootId]: 'boot-before',
        });
      },
      // The slot emptied, and the node given up on (the controller stops counting it).
      after: async () => {
        expect(await holder('baton-slot-1')).toBe('');
        expect((await annotations())[Annotation.GivenUp]).toBe(midReboot);
        await annotate({
          [Annotation.Phase]: null,
          [Annotation.Grant]: null,
          [Annotation.RebootFromBootId]: null,
          [Annotation.GivenUp]: null,
        });
      },
    },
    'kubectl annotate --overwrite node NODE baton.dev/given-up="$(kubectl get node NODE -o jsonpath=\'{.metadata.annotations.baton\\.dev/grant}\')"':
      {
        // A node mid-reboot under a grant its slot Lease no longer carries.
        before: () =>
          annotate({
            [Annotation.Phase]: 'Rebooting',
            [Annotation.Grant]: 'baton-slot-0/e2e-given-up',
            [Annotation.RebootFromBootId]: 'boot-before',
          }),
        after: async () => {
          expect((await annotations())[Annotation.GivenUp]).toBe('baton-slot-0/e2e-given-up');
          await annotate({
            [Annotation.Phase]: null,
            [Annotation.Grant]: null,
            [Annotation.RebootFromBootId]: null,
            [Annotation.GivenUp]: null,
          });
        },
      },
    'kubectl baton release NODE': {
      before: () => grantSlot(kc, NAMESPACE, 'baton-slot-1', node, 600),
      after: async () => expect(await holder('baton-slot-1')).toBe(''),
    },
    'kubectl baton release baton-slot-0': {
      before: () => grantSlot(kc, NAMESPACE, 'baton-slot-0', node, 600),
      after: async () => expect(await holder('baton-slot-0')).toBe(''),
    },
    'kubectl -n baton patch lease baton-slot-0 --type=merge -p \'{"spec":{"holderIdentity":null}}\'': {
      before: () => grantSlot(kc, NAMESPACE, 'baton-slot-0', node, 600),
      after: async () => expect(await holder('baton-slot-0')).toBe(''),
    },
    'kubectl baton request NODE': {
      after: async () => expect((await annotations())['baton.dev/reboot-requested']).toMatch(/\S/),
    },
    'kubectl baton cancel NODE': {
      after: async () => expect((await annotations())['baton.dev/reboot-requested']).toBeUndefined(),
    },
    'kubectl annotate --overwrite node NODE baton.dev/reboot-requested="$(whoami)"': {
      after: async () => expect((await annotations())['baton.dev/reboot-requested']).toMatch(/\S/),
    },
    'kubectl annotate node NODE baton.dev/reboot-requested-': {
      after: async () => expect((await annotations())['baton.dev/reboot-requested']).toBeUndefined(),
    },
    'kubectl annotate node NODE baton.dev/reboot-attempts-': {
      before: () =>
        core.patchNode(
          { name: node, body: { metadata: { annotations: { 'baton.dev/reboot-attempts': '3' } } } },
          mergePatch,
        ),
      after: async () => expect((await annotations())['baton.dev/reboot-attempts']).toBeUndefined(),
    },
  };
  const fixtureFor = (c: ReadmeCommand) => fixtures[c.text] ?? fixtures[c.text.split('\n')[0] ?? ''];

  /** The README's test command for another cluster, pointed at this one, on one small file (not the whole suite again). */
  const narrowed = (text: string) =>
    /E2E_KUBECONFIG=\S+ npx pnpm@[\d.]+ run test:e2e$/.test(text) ? `${text} e2e/kube-client.e2e.ts` : text;

  beforeAll(async () => {
    const admin = inject('kubeconfig');
    kc = loadKubeConfig(admin);
    core = kc.makeApiClient(CoreV1Api);
    leases = kc.makeApiClient(CoordinationV1Api);
    const tools = await ensureTools();
    // Not the test runner's own variables: a README command that runs vitest must start afresh.
    const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    const scratch = await mkdtemp(join(tmpdir(), 'baton-readme-'));
    env = {
      ...own,
      // The short benchmark runs report here, not over docs/benchmarks.md or a real run's results.
      BENCH_RESULTS_DIR: scratch,
      BENCH_DOCS_DIR: scratch,
      KUBECONFIG: admin,
      // As a reader has them: kubectl and helm on the PATH, and the plugin where the README puts it.
      PATH: [
        join(root, 'packages', 'cli', 'bin'),
        dirname(tools.kubectl),
        dirname(tools.helm),
        dirname(process.execPath),
        process.env.PATH ?? '',
      ].join(':'),
    };
    // A leftover of an earlier, killed run would make `kubectl create namespace baton` fail.
    await helm(['uninstall', RELEASE, '-n', NAMESPACE, '--kubeconfig', admin]);
    await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    await waitFor('namespace baton gone', async () => {
      try {
        await core.readNamespace({ name: NAMESPACE });
        return false;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    });
    node = (await createFakeNodes(kc, { prefix: 'readme', count: 1 }))[0] ?? '';
    await waitForNodesReady(kc, [node]);
  });

  afterAll(async () => {
    await helm(['uninstall', RELEASE, '-n', NAMESPACE, '--kubeconfig', inject('kubeconfig')]);
    await core?.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
    if (node) await core.deleteNode({ name: node }).catch(() => undefined);
  });

  it('has a fixture only for commands the README has', () => {
    const texts = new Set(commands.flatMap((c) => [c.text, c.text.split('\n')[0] ?? '']));
    for (const key of Object.keys(fixtures)) expect(texts, key).toContain(key);
  });

  it('runs every command: the install section first, then the rest in the order of the README', async () => {
    const install = commands.filter((c) => c.section === 'Installing with Helm');
    expect(install.map((c) => c.text.split(' ').slice(0, 2).join(' '))).toEqual([
      'kubectl create',
      'kubectl label',
      'helm install',
    ]);
    const ordered = [...install, ...commands.filter((c) => !install.includes(c))];
    /** `export`s of a ```sh block carry on to its later commands, as in one terminal. */
    const exportsOf = new Map<number, string[]>();
    const ran: string[] = [];
    for (const c of ordered) {
      const plan = planFor(c);
      // A benchmark the README names twice is run once.
      if (plan.by === 'readme' && plan.env !== undefined && ran.includes(c.text)) {
        ran.push(c.text);
        continue;
      }
      const fixture = fixtureFor(c);
      await fixture?.before?.();
      const text = narrowed(
        fillPlaceholders(c.text, { node, registry: 'registry.example', kubeconfig: inject('kubeconfig') }),
      );
      const prelude = c.block !== undefined ? (exportsOf.get(c.block) ?? []) : [];
      const r = await bash([...prelude, text].join('\n'), {
        ...env,
        ...(plan.by === 'readme' ? plan.env : {}),
      });
      expect(r.code, `README line ${c.line} (${c.section}): ${text}\n${r.out}`).toBe(0);
      await fixture?.after?.();
      if (c.block !== undefined && text.startsWith('export ')) exportsOf.set(c.block, [...prelude, text]);
      ran.push(c.text);
    }
    expect(ran).toHaveLength(commands.length);
    // The chart the README installed is there, with its roles for kubectl baton users.
    const objects = await bash(`kubectl get clusterrole ${RELEASE}-operator ${RELEASE}-viewer -o name`, env);
    expect(objects.out).toContain(`clusterrole.rbac.authorization.k8s.io/${RELEASE}-operator`);
  });
});
