/**
 * Per-node phases of a rollout from what the API server shows, the same definitions for baton
 * and kured so the two rows compare:
 * - waiting: the sentinel was touched (t0) → the node holds permission (a baton slot Lease or
 *   kured's DaemonSet lock names it);
 * - draining: permission → the node goes NotReady (the reboot command ran);
 * - rebooting: NotReady → Ready again;
 * - settling: Ready again → permission released (the next node may go).
 * Pure: fed with stamped observations, no I/O.
 */

export const PHASES = ['waiting', 'draining', 'rebooting', 'settling'] as const;
export type Phase = (typeof PHASES)[number];

export interface Span {
  readonly phase: Phase;
  /** Seconds since t0. */
  readonly start: number;
  readonly end: number;
}

export interface NodeRow {
  readonly node: string;
  readonly spans: readonly Span[];
  /** Seconds since t0 when permission was released; undefined if it never was. */
  readonly done: number | undefined;
}

interface NodeMarks {
  granted?: number;
  notReady?: number;
  readyAgain?: number;
  released?: number;
}

export class Timeline {
  readonly #t0: number;
  readonly #marks = new Map<string, NodeMarks>();
  /** (released at, next granted at) pairs in ms, for "release → next grant". */
  readonly handoffs: { released: number; granted: number }[] = [];
  #lastRelease: number | undefined;

  constructor(nodes: readonly string[], t0: number) {
    this.#t0 = t0;
    for (const n of nodes) this.#marks.set(n, {});
  }

  /** `holder` now holds permission (first time only counts). */
  granted(holder: string, at: number): void {
    const m = this.#marks.get(holder);
    if (!m || m.granted !== undefined) return;
    m.granted = at;
    if (this.#lastRelease !== undefined) {
      this.handoffs.push({ released: this.#lastRelease, granted: at });
      this.#lastRelease = undefined;
    }
  }

  released(holder: string, at: number): void {
    const m = this.#marks.get(holder);
    if (!m || m.granted === undefined || m.released !== undefined) return;
    m.released = at;
    this.#lastRelease = at;
  }

  ready(node: string, ready: boolean, at: number): void {
    const m = this.#marks.get(node);
    if (!m || m.granted === undefined) return;
    if (!ready && m.notReady === undefined) m.notReady = at;
    if (ready && m.notReady !== undefined && m.readyAgain === undefined) m.readyAgain = at;
  }

  /** True when every node's permission was released. */
  complete(): boolean {
    return [...this.#marks.values()].every((m) => m.released !== undefined);
  }

  doneCount(): number {
    return [...this.#marks.values()].filter((m) => m.released !== undefined).length;
  }

  rows(): NodeRow[] {
    const s = (ms: number) => +((ms - this.#t0) / 1000).toFixed(3);
    const rows: NodeRow[] = [];
    for (const [node, m] of this.#marks) {
      const points: [Phase, number | undefined][] = [
        ['waiting', this.#t0],
        ['draining', m.granted],
        ['rebooting', m.notReady],
        ['settling', m.readyAgain],
      ];
      const spans: Span[] = [];
      for (let i = 0; i < points.length; i++) {
        const [phase, start] = points[i] ?? ['waiting', undefined];
        const end = points[i + 1]?.[1] ?? (i === points.length - 1 ? m.released : undefined);
        if (start === undefined || end === undefined) break;
        spans.push({ phase, start: s(start), end: s(end) });
      }
      rows.push({ node, spans, done: m.released === undefined ? undefined : s(m.released) });
    }
    // Rollout order: by grant time.
    return rows.sort(
      (a, b) =>
        (a.spans[1]?.start ?? Number.POSITIVE_INFINITY) - (b.spans[1]?.start ?? Number.POSITIVE_INFINITY),
    );
  }
}
