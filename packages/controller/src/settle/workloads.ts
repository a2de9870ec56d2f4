/**
 * What a drain takes away from the cluster, and whether it is back: the workloads owning the pods
 * the agent will evict from a node, and the PodDisruptionBudgets covering those pods.
 *
 * At the grant the controller lists the pods on the node and records the result on the slot Lease
 * ({@link SlotAnnotation.GrantedWorkloads}), so it survives a controller restart and needs no
 * cluster-wide cache. While the node settles, every recorded workload must be available again
 * (wherever its pods landed) and every recorded PDB back at its desired healthy count. Pure: the
 * API calls are in workloads-probe.ts.
 */
import { type LabelRequirement, type LabelSelector, matchesLabelSelector } from '@baton/protocol/config';
import type {
  V1Deployment,
  V1LabelSelector,
  V1Pod,
  V1PodDisruptionBudget,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node';

/** The workload kinds whose availability the controller checks. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'ReplicaSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

export interface WorkloadRef {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
  /**
   * Replicas available when the grant was made. Settling asks for this many back (or all, if
   * fewer are wanted now), not for every replica: a workload already short before the reboot
   * (a replica stuck Pending) is no worse for it, and must not halt the rollout. Undefined in a
   * record written before baseline counts existed, or for a workload gone at the grant: then
   * every replica is asked for.
   */
  readonly availableAtGrant?: number;
}

export interface PdbRef {
  readonly namespace: string;
  readonly name: string;
}

/** What the drain of one node touches. */
export interface WorkloadRecord {
  readonly workloads: readonly WorkloadRef[];
  readonly pdbs: readonly PdbRef[];
}

export const workloadText = (w: WorkloadRef) => `${w.kind}/${w.namespace}/${w.name}`;
const workloadEntry = (w: WorkloadRef) =>
  w.availableAtGrant === undefined ? workloadText(w) : `${workloadText(w)}=${w.availableAtGrant}`;
export const pdbText = (p: PdbRef) => `${p.namespace}/${p.name}`;

/**
 * Canonical annotation value, sorted:
 * `{"workloads":["Deployment/ns/name=2",...],"pdbs":["ns/name",...]}`, where `=2` is the
 * replicas available at the grant (absent when unknown).
 */
export function formatWorkloadRecord(r: WorkloadRecord): string {
  return JSON.stringify({
    workloads: [...new Set(r.workloads.map(workloadEntry))].sort(),
    pdbs: [...new Set(r.pdbs.map(pdbText))].sort(),
  });
}

// Kubernetes object names: DNS subdomains (namespaces: DNS labels), never containing "/".
const NAME = '[a-z0-9]([-a-z0-9.]*[a-z0-9])?';
const WORKLOAD_RE = new RegExp(`^(${WORKLOAD_KINDS.join('|')})/(${NAME})/(${NAME})(=(0|[1-9][0-9]{0,8}))?$`);
const PDB_RE = new RegExp(`^(${NAME})/(${NAME})$`);

/**
 * Reads the annotation back. A value that is not exactly the shape {@link formatWorkloadRecord}
 * writes is an error, never "nothing to check": the caller then treats the workloads as unknown.
 */
export function parseWorkloadRecord(text: string): WorkloadRecord | { readonly problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { problem: 'not JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { problem: 'not a JSON object' };
  const { workloads, pdbs } = raw as { workloads?: unknown; pdbs?: unknown };
  if (!Array.isArray(workloads) || !Array.isArray(pdbs)) {
    return { problem: 'expected {"workloads": [...], "pdbs": [...]}' };
  }
  const ws: WorkloadRef[] = [];
  for (const w of workloads) {
    const m = typeof w === 'string' ? WORKLOAD_RE.exec(w) : null;
    if (!m)
      return { problem: `workload ${JSON.stringify(w)} is not Kind/namespace/name or Kind/namespace/name=N` };
    const ref = { kind: m[1] as WorkloadKind, namespace: m[2] ?? '', name: m[4] ?? '' };
    ws.push(m[7] === undefined ? ref : { ...ref, availableAtGrant: Number(m[7]) });
  }
  const ps: PdbRef[] = [];
  for (const p of pdbs) {
    const m = typeof p === 'string' ? PDB_RE.exec(p) : null;
    if (!m) return { problem: `PDB ${JSON.stringify(p)} is not namespace/name` };
    ps.push({ namespace: m[1] ?? '', name: m[3] ?? '' });
  }
  return { workloads: ws, pdbs: ps };
}

const controllerOf = (p: {
  metadata?: { ownerReferences?: { kind: string; name: string; controller?: boolean }[] };
}) => p.metadata?.ownerReferences?.find((o) => o.controller === true);

/**
 * The pods an agent's drain evicts (the same rule as the agent): not a DaemonSet's, not a
 * mirror pod, not finished and not already going away.
 */
export function evictedByDrain(pod: V1Pod): boolean {
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined) return false;
  if (controllerOf(pod)?.kind === 'DaemonSet') return false;
  if (pod.metadata?.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null) return false;
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

/** The ReplicaSets the owners of these pods need resolved (a Deployment's or a bare one). */
export function replicaSetsToResolve(pods: readonly V1Pod[]): PdbRef[] {
  const out = new Map<string, PdbRef>();
  for (const p of pods.filter(evictedByDrain)) {
    const owner = controllerOf(p);
    if (owner?.kind === 'ReplicaSet') {
      const ref = { namespace: p.metadata?.namespace ?? '', name: owner.name };
      out.set(pdbText(ref), ref);
    }
  }
  return [...out.values()];
}

/** A Kubernetes LabelSelector as requirements; `undefined` (a null selector) matches nothing. */
export function toLabelSelector(s: V1LabelSelector | undefined): LabelSelector | undefined {
  if (s === undefined || s === null) return undefined;
  const reqs: LabelRequirement[] = Object.entries(s.matchLabels ?? {}).map(([key, v]) => ({
    key,
    operator: 'In',
    values: [v],
  }));
  for (const e of s.matchExpressions ?? []) {
    reqs.push({ key: e.key, operator: e.operator as LabelRequirement['operator'], values: e.values ?? [] });
  }
  return reqs;
}

/**
 * What the drain of a node with these pods touches. `replicaSets` maps `namespace/name` to the
 * ReplicaSet read from the API (`undefined`: it no longer exists, so its pods are orphans and
 * nothing comes back for them). Pods without a controller, or owned by something else (a Job),
 * add no workload; they still count for the PDBs that select them.
 */
export function workloadRecord(
  pods: readonly V1Pod[],
  replicaSets: ReadonlyMap<string, V1ReplicaSet | undefined>,
  pdbs: readonly V1PodDisruptionBudget[],
): WorkloadRecord {
  const workloads = new Map<string, WorkloadRef>();
  const touched = new Map<string, PdbRef>();
  const selectors = pdbs.map((b) => ({ pdb: b, selector: toLabelSelector(b.spec?.selector) }));
  for (const p of pods.filter(evictedByDrain)) {
    const namespace = p.metadata?.namespace ?? '';
    const owner = controllerOf(p);
    let ref: WorkloadRef | undefined;
    if (owner?.kind === 'StatefulSet') ref = { kind: 'StatefulSet', namespace, name: owner.name };
    if (owner?.kind === 'ReplicaSet') {
      const rs = replicaSets.get(`${namespace}/${owner.name}`);
      const up = rs === undefined ? undefined : controllerOf(rs);
      if (up?.kind === 'Deployment') ref = { kind: 'Deployment', namespace, name: up.name };
      else if (rs !== undefined) ref = { kind: 'ReplicaSet', namespace, name: owner.name };
    }
    if (ref !== undefined) workloads.set(workloadText(ref), ref);
    for (const { pdb, selector } of selectors) {
      if (pdb.metadata?.namespace !== namespace || selector === undefined) continue;
      if (!matchesLabelSelector(selector, p.metadata?.labels ?? {})) continue;
      const b = { namespace, name: pdb.metadata?.name ?? '' };
      touched.set(pdbText(b), b);
    }
  }
  return { workloads: [...workloads.values()], pdbs: [...touched.values()] };
}

const stale = (o: { metadata?: { generation?: number }; status?: { observedGeneration?: number } }) =>
  (o.status?.observedGeneration ?? 0) < (o.metadata?.generation ?? 0);

/**
 * Why a workload is not available again; `undefined` when it is. A workload that no longer
 * exists is not waited for (nothing of it is coming back). Every replica that was available at
 * the grant must be available again (every replica, if the record has no count), not just the
 * Deployment's minimum: the drain took some away, and they must be back.
 */
export function workloadProblem(
  ref: WorkloadRef,
  obj: V1Deployment | V1StatefulSet | V1ReplicaSet | undefined,
): string | undefined {
  if (obj === undefined) return undefined;
  const what = workloadText(ref);
  if (stale(obj))
    return `${what}: its controller has not observed generation ${obj.metadata?.generation} yet`;
  const replicas = obj.spec?.replicas ?? 1;
  const want = Math.min(replicas, ref.availableAtGrant ?? replicas);
  const have = availableReplicas(ref.kind, obj);
  if (have >= want) return undefined;
  const short = want < replicas ? ` (${want} were available at the grant, ${replicas} wanted)` : '';
  return `${what}: ${have} of ${want} replica(s) available${short}`;
}

/** Available replicas as the workload's controller reports them. */
export function availableReplicas(
  kind: WorkloadKind,
  obj: V1Deployment | V1StatefulSet | V1ReplicaSet,
): number {
  const status = obj.status as { availableReplicas?: number; readyReplicas?: number } | undefined;
  // StatefulSets report availableReplicas since 1.25 (minReadySeconds); readyReplicas before.
  return status?.availableReplicas ?? (kind === 'StatefulSet' ? status?.readyReplicas : 0) ?? 0;
}

/** Why a PDB is not back at its desired healthy count; `undefined` when it is (or is gone). */
export function pdbProblem(ref: PdbRef, pdb: V1PodDisruptionBudget | undefined): string | undefined {
  if (pdb === undefined) return undefined;
  const what = `PDB ${pdbText(ref)}`;
  if (stale(pdb))
    return `${what}: the disruption controller has not observed generation ${pdb.metadata?.generation} yet`;
  const current = pdb.status?.currentHealthy ?? 0;
  const desired = pdb.status?.desiredHealthy ?? 0;
  return current >= desired ? undefined : `${what}: ${current} healthy of ${desired} desired`;
}
