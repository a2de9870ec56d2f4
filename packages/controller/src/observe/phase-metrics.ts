/**
 * Turns what the controller sees on Nodes (the agent's phase annotation and its start time, the
 * RebootRequired condition) and its own grants and releases into durations and outcomes for the
 * metrics: how long nodes waited for a grant, drained, rebooted and settled; how many reboots
 * finished, aborted or were held. Pure: it is fed snapshots and times, and remembers only the
 * last phase it saw per node. A controller restart loses the phases in flight, never invents one.
 */
import { AgentPhase, Annotation, ConditionStatus, leaseTime, rebootRequiredOf } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';

export type Stage = 'waiting' | 'draining' | 'rebooting' | 'settling';
export type Outcome = 'rebooted' | 'aborted' | 'held';

export interface Observation {
  readonly durations: readonly { readonly stage: Stage; readonly seconds: number }[];
  readonly outcomes: readonly Outcome[];
}

interface Seen {
  readonly phase: string;
  readonly since: number;
}

/** Which stage each agent phase belongs to (Cordoning counts as draining; Verifying as rebooting). */
const STAGE_OF: Readonly<Record<string, Stage | undefined>> = {
  [AgentPhase.Cordoning]: 'draining',
  [AgentPhase.Draining]: 'draining',
  [AgentPhase.Rebooting]: 'rebooting',
  [AgentPhase.Verifying]: 'rebooting',
  [AgentPhase.Rebooted]: 'settling',
};

const OUTCOME_OF: Readonly<Record<string, Outcome | undefined>> = {
  [AgentPhase.Rebooted]: 'rebooted',
  [AgentPhase.Aborted]: 'aborted',
  [AgentPhase.Held]: 'held',
};

export function phaseOf(node: V1Node): { phase: string; since: number } | undefined {
  const ann = node.metadata?.annotations ?? {};
  const phase = ann[Annotation.Phase];
  const since = leaseTime(ann[Annotation.PhaseSince])?.getTime();
  return phase === undefined || since === undefined ? undefined : { phase, since };
}

/** The RebootRequired condition is True, held nodes included: the `required` gauge counts the need, not the grantable. */
export function rebootRequired(node: V1Node): boolean {
  return rebootRequiredOf(node)?.status === ConditionStatus.True;
}

/** When the node's RebootRequired condition last turned True (epoch ms), if it is True. */
function requiredSince(node: V1Node): number | undefined {
  const c = rebootRequiredOf(node);
  if (c?.status !== ConditionStatus.True) return undefined;
  const t = c.lastTransitionTime;
  const d = t instanceof Date ? t : typeof t === 'string' ? new Date(t) : undefined;
  return d === undefined || Number.isNaN(d.getTime()) ? undefined : d.getTime();
}

const sec = (ms: number) => Math.max(0, ms) / 1000;

export class PhaseTracker {
  /** The last phase seen per node, and when the stage it belongs to started. */
  readonly #seen = new Map<
    string,
    Seen & { readonly stage: Stage | undefined; readonly stageStart: number }
  >();
  /** Nodes whose settling started (phase Rebooted) and whose slot is not released yet. */
  readonly #settlingSince = new Map<string, number>();

  /** Node name → when its current grant was acquired, as of the last call. */
  #holders = new Map<string, number>();

  /**
   * Feed every node and who holds a slot (node → grant acquired at) after a change; returns
   * what finished since the last call. A new holder ends its wait; a holder gone ends its
   * settling (the slot was released).
   */
  observe(nodes: readonly V1Node[], holders: ReadonlyMap<string, Date>, now: Date): Observation {
    const durations: { stage: Stage; seconds: number }[] = [];
    const outcomes: Outcome[] = [];
    const byName = new Map<string, V1Node>();
    for (const node of nodes) {
      const name = node.metadata?.name;
      if (name === undefined) continue;
      byName.set(name, node);
      const current = phaseOf(node);
      if (current === undefined) continue;
      const before = this.#seen.get(name);
      if (before !== undefined && before.phase === current.phase && before.since === current.since) continue;
      const stage = STAGE_OF[current.phase];
      const sameStage = before !== undefined && before.stage === stage && stage !== undefined;
      this.#seen.set(name, { ...current, stage, stageStart: sameStage ? before.stageStart : current.since });
      // The first sight after a (controller) start only sets the baseline.
      if (before === undefined) continue;
      // A stage ends when the phase moves to another stage; settling ends at the release.
      if (before.stage !== undefined && before.stage !== 'settling' && !sameStage) {
        durations.push({ stage: before.stage, seconds: sec(current.since - before.stageStart) });
      }
      const outcome = OUTCOME_OF[current.phase];
      if (outcome !== undefined) outcomes.push(outcome);
      if (current.phase === AgentPhase.Rebooted) this.#settlingSince.set(name, current.since);
    }
    for (const name of [...this.#seen.keys()]) {
      if (byName.has(name)) continue;
      this.#seen.delete(name);
      this.#settlingSince.delete(name);
    }
    // After the phases, so a reboot and its release seen in one snapshot still measure settling.
    for (const [name, acquired] of holders) {
      if (this.#holders.get(name) === acquired.getTime()) continue;
      const node = byName.get(name);
      if (node !== undefined) durations.push(...this.#granted(node, acquired).durations);
    }
    for (const name of this.#holders.keys()) {
      if (!holders.has(name)) durations.push(...this.#released(name, now).durations);
    }
    this.#holders = new Map([...holders].map(([n, d]) => [n, d.getTime()]));
    return { durations, outcomes };
  }

  /** A grant was made at `at`: the node's wait for it ends. */
  #granted(node: V1Node, at: Date): Observation {
    const since = requiredSince(node);
    return {
      durations: since === undefined ? [] : [{ stage: 'waiting', seconds: sec(at.getTime() - since) }],
      outcomes: [],
    };
  }

  /** The node's slot was released at `at`: if it had rebooted, its settling ends. */
  #released(nodeName: string, at: Date): Observation {
    const since = this.#settlingSince.get(nodeName);
    this.#settlingSince.delete(nodeName);
    return {
      durations: since === undefined ? [] : [{ stage: 'settling', seconds: sec(at.getTime() - since) }],
      outcomes: [],
    };
  }
}
