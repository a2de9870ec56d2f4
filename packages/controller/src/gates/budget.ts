/**
 * The budget: how many nodes may be down at once, beyond the slot count.
 *
 * - Per group (`--group-label`, `--max-per-group`): at most N nodes granted at once among the
 *   nodes sharing one value of the label (e.g. one zone). Nodes without the label form one
 *   group of their own, so a missing label never means "unlimited".
 * - Cluster-wide (`--max-unavailable`): a grant is made only if afterwards no more than N nodes
 *   (or N% of all nodes, rounded down) are unavailable, counting granted nodes and every node
 *   that is NotReady or cordoned for whatever reason. A node that is already unavailable adds
 *   nothing when it is granted.
 *
 * Pure arithmetic over the Nodes the controller sees and the holders it keeps; the planner
 * calls {@link Budget.take} for each grant it makes so later nodes in the same plan see it.
 */
import { GateReason, isNodeReady } from '@baton/protocol';
import type { MaxUnavailable } from '@baton/protocol/config';
import type { V1Node } from '@kubernetes/client-node';
import type { GateBlock } from './gate.ts';

export interface BudgetSettings {
  readonly groupLabel?: string | undefined;
  /** With a group label and no maximum, one per group. */
  readonly maxPerGroup?: number | undefined;
  readonly maxUnavailable?: MaxUnavailable | undefined;
}

export interface Budget {
  /** Why granting `node` now would exceed the budget, or `undefined`. */
  check(node: V1Node): GateBlock | undefined;
  /** Counts a grant made in this plan. */
  take(node: V1Node): void;
}

const nameOf = (n: V1Node) => n.metadata?.name ?? '';

/** NotReady (Ready not True, including no Ready condition yet) or cordoned. */
export function isUnavailable(n: V1Node): boolean {
  return !isNodeReady(n) || n.spec?.unschedulable === true;
}

/** The node count `--max-unavailable` allows out of `total` nodes (a percentage rounds down). */
export function unavailableLimit(max: MaxUnavailable, total: number): number {
  return max.kind === 'count' ? max.value : Math.floor((max.value * total) / 100);
}

export function budget(
  settings: BudgetSettings,
  nodes: readonly V1Node[],
  /** Nodes that keep a slot after this plan's releases. */
  holders: ReadonlySet<string>,
): Budget {
  const { groupLabel, maxUnavailable } = settings;
  const maxPerGroup = settings.maxPerGroup ?? 1;
  const groupOf = (n: V1Node) => (groupLabel === undefined ? '' : (n.metadata?.labels?.[groupLabel] ?? ''));
  const describeGroup = (g: string) =>
    g === '' ? `nodes without label ${groupLabel}` : `${groupLabel}=${g}`;

  const perGroup = new Map<string, number>();
  const unavailable = new Set<string>();
  for (const n of nodes) {
    const name = nameOf(n);
    if (holders.has(name)) {
      const g = groupOf(n);
      perGroup.set(g, (perGroup.get(g) ?? 0) + 1);
      unavailable.add(name);
    } else if (isUnavailable(n)) {
      unavailable.add(name);
    }
  }
  const limit = maxUnavailable === undefined ? undefined : unavailableLimit(maxUnavailable, nodes.length);

  return {
    check(n) {
      if (maxUnavailable !== undefined && limit !== undefined) {
        const after = unavailable.size + (unavailable.has(nameOf(n)) ? 0 : 1);
        if (after > limit) {
          const allowed =
            maxUnavailable.kind === 'percent'
              ? `${limit} (${maxUnavailable.value}% of ${nodes.length} nodes, rounded down)`
              : `${limit}`;
          return {
            reason: GateReason.MaxUnavailableReached,
            detail: `${unavailable.size} node(s) unavailable (granted, NotReady or cordoned); --max-unavailable allows ${allowed}`,
          };
        }
      }
      if (groupLabel !== undefined) {
        const g = groupOf(n);
        const used = perGroup.get(g) ?? 0;
        if (used >= maxPerGroup) {
          return {
            reason: GateReason.GroupBudgetExhausted,
            detail: `${used} of ${maxPerGroup} grant(s) in ${describeGroup(g)} in use`,
          };
        }
      }
      return undefined;
    },
    take(n) {
      const g = groupOf(n);
      perGroup.set(g, (perGroup.get(g) ?? 0) + 1);
      unavailable.add(nameOf(n));
    },
  };
}
