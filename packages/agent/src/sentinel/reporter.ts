/**
 * Keeps the node's `RebootRequired` condition true to the sentinel and the node's annotations:
 * patched when what it should say differs from what the node says (compared with the node as
 * the API server has it, not with memory), and re-patched every heartbeat interval so that a
 * dead agent shows as a stale lastHeartbeatTime.
 */
import { REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import { singleFlight } from '@baton/runtime';
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import type { NodeApi } from '../kube/agent-api.ts';
import { conditionEntry, desiredCondition, sameCondition } from './condition.ts';
import type { SentinelReading } from './sentinel.ts';

export interface ReporterDeps {
  readonly node: NodeApi;
  readonly maxRebootAttempts: number;
  readonly heartbeatMs: number;
  readonly now: () => Date;
}

export class Reporter {
  readonly #d: ReporterDeps;
  /** Whether any report of one flight patched. */
  readonly #reports = singleFlight(() => this.#next(), { again: true, combine: (a, b) => a || b });
  #latest: { reading: SentinelReading; node: V1Node | undefined } | undefined;

  constructor(deps: ReporterDeps) {
    this.#d = deps;
  }

  /**
   * Reports if needed; returns whether it patched. `node` is the latest known node (from the
   * watch); without it the node is read. A call made while a report is in flight is not lost:
   * one more report runs afterwards with the newest reading.
   */
  report(reading: SentinelReading, node?: V1Node): Promise<boolean> {
    this.#latest = { reading, node };
    return this.#reports.run();
  }

  /** One report with the newest reading. */
  async #next(): Promise<boolean> {
    const latest = this.#latest;
    if (latest === undefined) return false;
    const written = await this.#once(latest.reading, latest.node);
    if (written !== undefined && this.#latest !== undefined) {
      // The next run must not judge by a node older than this patch: a watch copy that arrived
      // meanwhile may predate it (a re-read would cost a GET per heartbeat). A copy that shows
      // the entry just written is at or after the patch; otherwise the patch's answer is the
      // newest node known, and any later change arrives by the watch.
      const watched = this.#latest.node;
      const node = watched !== undefined && showsEntry(watched, written.entry) ? watched : written.node;
      this.#latest = { reading: this.#latest.reading, node };
    }
    return written !== undefined;
  }

  /** Patches if needed; returns what it wrote and the node the patch left, or undefined. */
  async #once(
    reading: SentinelReading,
    known: V1Node | undefined,
  ): Promise<{ entry: V1NodeCondition; node: V1Node } | undefined> {
    const node = known ?? (await this.#d.node.read());
    const desired = desiredCondition(reading, node.metadata?.annotations, this.#d.maxRebootAttempts);
    const previous = rebootRequired(node);
    const now = this.#d.now();
    const heartbeat = previous?.lastHeartbeatTime ? timeOf(previous.lastHeartbeatTime) : 0;
    if (sameCondition(previous, desired) && now.getTime() - heartbeat < this.#d.heartbeatMs) return undefined;
    const entry = conditionEntry(desired, previous, now);
    return { entry, node: await this.#d.node.patchCondition(entry) };
  }
}

function rebootRequired(node: V1Node): V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
}

/** A watch copy carries times as strings, our own entry as a Date. */
function timeOf(t: Date | string): number {
  return new Date(t instanceof Date ? t.getTime() : String(t)).getTime();
}

/** The API server keeps condition times to the second. */
function sameSecond(a: Date | string, b: Date | string): boolean {
  return Math.floor(timeOf(a) / 1000) === Math.floor(timeOf(b) / 1000);
}

/** Whether the node carries exactly this heartbeat of ours. */
function showsEntry(node: V1Node, entry: V1NodeCondition): boolean {
  const c = rebootRequired(node);
  return (
    c?.lastHeartbeatTime !== undefined &&
    entry.lastHeartbeatTime !== undefined &&
    sameSecond(c.lastHeartbeatTime, entry.lastHeartbeatTime) &&
    sameCondition(c, entry)
  );
}
