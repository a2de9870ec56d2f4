/**
 * Workloads for drain tests: a Deployment whose pods may run only on given nodes, and its PDB.
 * Node affinity, not spec.nodeName: a replacement must wait for its node to be schedulable
 * again, as in a real cluster, instead of bypassing a cordon. KWOK runs the pods.
 */
import { AppsV1Api, type KubeConfig, PolicyV1Api } from '@kubernetes/client-node';

export interface PinnedDeployment {
  readonly name: string;
  readonly replicas: number;
  /** The nodes its pods may run on. */
  readonly nodes: readonly string[];
  /** Spread the replicas over those nodes (one per node where it can). */
  readonly spread?: boolean;
}

export async function createPinnedDeployment(
  kc: KubeConfig,
  namespace: string,
  d: PinnedDeployment,
): Promise<void> {
  const labels = { app: d.name };
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: d.name },
      spec: {
        replicas: d.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [
                        { key: 'kubernetes.io/hostname', operator: 'In', values: [...d.nodes] },
                      ],
                    },
                  ],
                },
              },
            },
            ...(d.spread
              ? {
                  topologySpreadConstraints: [
                    {
                      maxSkew: 1,
                      topologyKey: 'kubernetes.io/hostname',
                      whenUnsatisfiable: 'ScheduleAnyway',
                      labelSelector: { matchLabels: labels },
                    },
                  ],
                }
              : {}),
            containers: [{ name: d.name, image: `registry.invalid/${d.name}:1` }],
          },
        },
      },
    },
  });
}

/** A PDB named like the Deployment, selecting its pods, with `minAvailable`. */
export async function createPdb(
  kc: KubeConfig,
  namespace: string,
  app: string,
  minAvailable: number,
): Promise<void> {
  await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name: app }, spec: { minAvailable, selector: { matchLabels: { app } } } },
  });
}
