/**
 * The API side of workloads.ts: what runs on a node at its grant, and whether the recorded
 * workloads and PDBs are healthy again while it settles.
 *
 * Cheap by construction: one pod list (field selector on the node), one cluster-wide PDB list and
 * one GET per ReplicaSet at a grant; while a holder settles, one GET per recorded object, at
 * most every `refreshMs`, and only once the settle check has got that far (asked lazily, like the
 * health query). No cluster-wide watch of Deployments or StatefulSets.
 */
import { describeKubeError, isNotFound, singleFlight } from '@baton/runtime';
import type {
  AppsV1Api,
  CoreV1Api,
  PolicyV1Api,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { HealthView } from './settle.ts';
import {
  availableReplicas,
  evictedByDrain,
  formatWorkloadRecord,
  type PdbRef,
  pdbProblem,
  replicaSetsToResolve,
  type WorkloadRecord,
  type WorkloadRef,
  workloadProblem,
  workloadRecord,
} from './workloads.ts';

/** The reads the probe makes; `undefined` means the object does not exist (404). */
export interface WorkloadsApi {
  podsOnNode(node: string): Promise<readonly V1Pod[]>;
  replicaSet(ref: PdbRef): Promise<V1ReplicaSet | undefined>;
  pdbs(): Promise<readonly V1PodDisruptionBudget[]>;
  workload(ref: WorkloadRef): Promise<V1Deployment | V1StatefulSet | V1ReplicaSet | undefined>;
  pdb(ref: PdbRef): Promise<V1PodDisruptionBudget | undefined>;
}

const orUndefined = async <T>(p: Promise<T>): Promise<T | undefined> => {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
};

export function kubeWorkloadsApi(core: CoreV1Api, apps: AppsV1Api, policy: PolicyV1Api): WorkloadsApi {
  return {
    podsOnNode: async (node) =>
      (await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items,
    replicaSet: (r) => orUndefined(apps.readNamespacedReplicaSet(r)),
    pdbs: async () => (await policy.listPodDisruptionBudgetForAllNamespaces()).items,
    workload: (w) => {
      const ref = { namespace: w.namespace, name: w.name };
      switch (w.kind) {
        case 'Deployment':
          return orUndefined(apps.readNamespacedDeployment(ref));
        case 'StatefulSet':
          return orUndefined(apps.readNamespacedStatefulSet(ref));
        case 'ReplicaSet':
          return orUndefined(apps.readNamespacedReplicaSet(ref));
      }
      throw new Error(`unknown workload kind ${String(w.kind)}`);
    },
    pdb: (r) => orUndefined(policy.readNamespacedPodDisruptionBudget(r)),
  };
}

/**
 * The record to write with a grant: the workloads and PDBs the drain of `node` will touch, each
 * workload with the replicas available now (what settling asks back). Throws when anything
 * cannot be read: then the node is not granted (an unknown set would make "settled" unprovable
 * later).
 */
export async function recordWorkloads(api: WorkloadsApi, node: string): Promise<string> {
  const pods = (await api.podsOnNode(node)).filter(evictedByDrain);
  if (pods.length === 0) return formatWorkloadRecord({ workloads: [], pdbs: [] });
  const rsRefs = replicaSetsToResolve(pods);
  const [pdbs, replicaSets] = await Promise.all([
    api.pdbs(),
    Promise.all(rsRefs.map(async (r) => [`${r.namespace}/${r.name}`, await api.replicaSet(r)] as const)),
  ]);
  const record = workloadRecord(pods, new Map(replicaSets), pdbs);
  const workloads = await Promise.all(
    record.workloads.map(async (w) => {
      const obj = await api.workload(w);
      // Gone already: nothing of it comes back, nothing to count.
      return obj === undefined ? w : { ...w, availableAtGrant: availableReplicas(w.kind, obj) };
    }),
  );
  return formatWorkloadRecord({ workloads, pdbs: record.pdbs });
}

const MAX_NAMED = 3;

/** Checks one holder's recorded workloads and PDBs, on demand, at most every `refreshMs`. */
export class WorkloadsProbe {
  readonly #api: WorkloadsApi;
  readonly #now: () => Date;
  readonly #refreshMs: number;
  readonly #onChange: () => void;
  #key = '';
  #last: HealthView = { ok: false, detail: 'not checked yet' };
  #startedAt = Number.NEGATIVE_INFINITY;
  /** The record to check, its key and when the check started; set just before each check. */
  #checking: { record: WorkloadRecord; key: string; now: Date } | undefined;
  readonly #checks = singleFlight(() => this.#check());

  constructor(o: { api: WorkloadsApi; now: () => Date; refreshMs: number; onChange: () => void }) {
    this.#api = o.api;
    this.#now = o.now;
    this.#refreshMs = o.refreshMs;
    this.#onChange = o.onChange;
  }

  /** The last verdict on `record`; starts a new check in the background when that one is due. */
  view(record: WorkloadRecord): HealthView {
    const now = this.#now();
    if (record.workloads.length === 0 && record.pdbs.length === 0) {
      return {
        ok: true,
        detail: 'no workloads or PDBs on the node at the grant',
        checkedAt: now,
        since: undefined,
      };
    }
    const key = formatWorkloadRecord(record);
    if (key !== this.#key) {
      // Another grant, another record: nothing known about it yet.
      this.#key = key;
      this.#last = { ok: false, detail: 'not checked yet' };
      this.#startedAt = Number.NEGATIVE_INFINITY;
    }
    if (!this.#checks.running() && now.getTime() - this.#startedAt >= this.#refreshMs) {
      this.#startedAt = now.getTime();
      this.#checking = { record, key, now };
      void this.#checks.run().finally(() => this.#onChange());
    }
    return this.#last;
  }

  async settled(): Promise<void> {
    await this.#checks.settled();
  }

  #check(): Promise<void> {
    if (this.#checking === undefined) return Promise.resolve();
    const { record, key, now } = this.#checking;
    return Promise.all([
      ...record.workloads.map(async (w) => workloadProblem(w, await this.#api.workload(w))),
      ...record.pdbs.map(async (p) => pdbProblem(p, await this.#api.pdb(p))),
    ])
      .then(
        (found) => {
          const problems = found.filter((p): p is string => p !== undefined);
          if (problems.length === 0) return { ok: true, detail: 'every workload and PDB healthy' };
          const more = problems.length > MAX_NAMED ? ` and ${problems.length - MAX_NAMED} more` : '';
          return { ok: false, detail: `${problems.slice(0, MAX_NAMED).join('; ')}${more}` };
        },
        (err: unknown) => ({
          ok: false,
          detail: `cannot read the workloads: ${describeKubeError(err)}`,
        }),
      )
      .then((v) => {
        if (key !== this.#key) return; // a newer record replaced this one meanwhile
        const prev = this.#last;
        const since = v.ok ? (prev.ok && prev.since !== undefined ? prev.since : now) : undefined;
        this.#last = { ok: v.ok, detail: v.detail, checkedAt: now, since };
      });
  }
}
