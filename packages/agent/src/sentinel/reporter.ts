/**
 * Keeps the node's `RebootRequired` condition true to the sentinel and the node's annotations:
 * patched when what it should say differs from what the node says (compared with the node as
 * the API server has it, not with memory), and re-patched every heartbeat interval so that a
 * dead agent shows as a stale lastHeartbeatTime.
 */
import { REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import { singleFlight } from '@baton/runtime';
import type { V1Node } from '@kubernetes/client-node';
import type { NodeApi } from '../kube/agent-api.ts';
import { conditionEntry, desiredCondition } from './condition.ts';
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
    const patched = await this.#once(latest.reading, latest.node);
    // A repeated run reads the node fresh: the watch copy may predate our own patch.
    if (this.#latest) this.#latest = { reading: this.#latest.reading, node: undefined };
    return patched;
  }

  async #once(reading: SentinelReading, known: V1Node | undefined): Promise<boolean> {
    const node = known ?? (await this.#d.node.read());
    const desired = desiredCondition(reading, node.metadata?.annotations, this.#d.maxRebootAttempts);
    const previous = node.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
    const now = this.#d.now();
    const heartbeat = previous?.lastHeartbeatTime
      ? new Date(String(previous.lastHeartbeatTime)).getTime()
      : 0;
    const same =
      previous !== undefined &&
      previous.status === desired.status &&
      previous.reason === desired.reason &&
      previous.message === desired.message;
    if (same && now.getTime() - heartbeat < this.#d.heartbeatMs) return false;
    await this.#d.node.patchCondition(conditionEntry(desired, previous, now));
    return true;
  }
}
