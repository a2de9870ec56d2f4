/**
 * What `./run demo` shows while the rollout runs: one row per node, built from what the API
 * server says (the node's conditions and annotations, the slot Leases) plus the simulator's count
 * of reboots. Pure: the demo passes in what it listed, and prints what comes back —
 * a table redrawn in place on a terminal, change lines otherwise (a log, a test reading stdout).
 */
import {
  AgentPhase,
  Annotation,
  GateReason,
  grantOf,
  type LeaseLike,
  REBOOT_GATE_CONDITION,
  REBOOT_REQUIRED_CONDITION,
} from '@baton/protocol';

/** The fields of a Node the view reads (client-node's V1Node fits). */
export interface NodeLike {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly annotations?: Readonly<Record<string, string>> | undefined;
  };
  readonly status?: {
    readonly conditions?: readonly {
      readonly type: string;
      readonly status: string;
      readonly reason?: string;
    }[];
  };
}

export interface NodeRow {
  readonly node: string;
  /** Status of the RebootRequired condition (True, False, Unknown), '-' before the agent wrote it. */
  readonly rebootRequired: string;
  /** The agent's phase annotation, '-' when absent. */
  readonly phase: string;
  /** The slot Lease(s) carrying a grant (holder and grant id) for this node now, '-' when none. */
  readonly slot: string;
  /** The reason of the controller's RebootGate condition, '-' when absent. */
  readonly gate: string;
  readonly reboots: number;
}

export interface Frame {
  readonly rows: readonly NodeRow[];
  /** Slot Leases carrying a grant now (a holder and a grant id: grant.ts), with their holder. */
  readonly held: readonly { readonly slot: string; readonly holder: string }[];
  readonly concurrency: number;
}

const NONE = '-';

/** Builds the frame the table shows from one listing of the nodes and the Leases. */
export function buildFrame(input: {
  readonly nodes: readonly NodeLike[];
  readonly leases: readonly LeaseLike[];
  readonly reboots: ReadonlyMap<string, number>;
  readonly concurrency: number;
}): Frame {
  const held = input.leases
    .flatMap((l) => {
      // A grant is judged by its identity, never by the Lease's times (grant.ts).
      const g = grantOf(l);
      return g === undefined ? [] : [{ slot: g.slot, holder: g.holder, index: g.slotIndex }];
    })
    .sort((a, b) => a.index - b.index)
    .map(({ slot, holder }) => ({ slot, holder }));
  const rows = input.nodes
    .flatMap((n) => {
      const name = n.metadata?.name;
      if (name === undefined) return [];
      const condition = (type: string) => n.status?.conditions?.find((c) => c.type === type);
      const slots = held.filter((h) => h.holder === name).map((h) => h.slot);
      return [
        {
          node: name,
          rebootRequired: condition(REBOOT_REQUIRED_CONDITION)?.status ?? NONE,
          phase: n.metadata?.annotations?.[Annotation.Phase] ?? NONE,
          slot: slots.length > 0 ? slots.join(',') : NONE,
          gate: condition(REBOOT_GATE_CONDITION)?.reason ?? NONE,
          reboots: input.reboots.get(name) ?? 0,
        },
      ];
    })
    .sort((a, b) => a.node.localeCompare(b.node, 'en', { numeric: true }));
  return { rows, held, concurrency: input.concurrency };
}

/**
 * True once every node rebooted at least once and is back to normal: nothing required, no slot
 * held, the agent reported the reboot, the controller says NotRequired.
 */
export function rolloutDone(frame: Frame): boolean {
  return (
    frame.rows.length > 0 &&
    frame.held.length === 0 &&
    frame.rows.every(
      (r) =>
        r.reboots > 0 &&
        r.rebootRequired === 'False' &&
        r.phase === AgentPhase.Rebooted &&
        r.gate === GateReason.NotRequired,
    )
  );
}

/** One line saying which slots are held, e.g. `slots held 1/1: baton-slot-0=node-2`. */
export function slotsLine(frame: Frame): string {
  const who = frame.held.map((h) => `${h.slot}=${h.holder}`).join(' ');
  return `slots held ${frame.held.length}/${frame.concurrency}${who ? `: ${who}` : ''}`;
}

const HEADER = ['NODE', 'REBOOT REQUIRED', 'PHASE', 'SLOT', 'GATE (RebootGate reason)', 'REBOOTS'];

/** The table for a terminal: header, one line per node, the slots line and a progress line. */
export function renderTable(frame: Frame): string[] {
  const cells = [
    HEADER,
    ...frame.rows.map((r) => [r.node, r.rebootRequired, r.phase, r.slot, r.gate, String(r.reboots)]),
  ];
  const widths = HEADER.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const rebooted = frame.rows.filter((r) => r.reboots > 0).length;
  return [
    ...cells.map(line),
    '',
    slotsLine(frame),
    rolloutDone(frame)
      ? `rollout done: every node rebooted (${rebooted}/${frame.rows.length}), no slot held`
      : `nodes rebooted ${rebooted}/${frame.rows.length}`,
  ];
}

/** A row as one `key=value` line, the form change lines use. */
export function rowLine(r: NodeRow): string {
  return `${r.node} rebootRequired=${r.rebootRequired} phase=${r.phase} slot=${r.slot} gate=${r.gate} reboots=${r.reboots}`;
}

/**
 * What changed from `prev` to `next`, as lines prefixed with `[frame <n> +<seconds>s]`: a
 * rowLine per changed (or new) node, the slots line when the held slots changed, and a last line
 * when the rollout just finished. Empty when nothing changed. All lines of one frame share the
 * prefix, so a reader can rebuild every frame the terminal would have shown.
 */
export function changeLines(
  prev: Frame | undefined,
  next: Frame,
  frameNo: number,
  elapsedMs: number,
): string[] {
  const before = new Map(prev?.rows.map((r) => [r.node, rowLine(r)]));
  const lines = next.rows.map(rowLine).filter((l, i) => before.get(next.rows[i]?.node ?? '') !== l);
  if (prev === undefined || slotsLine(prev) !== slotsLine(next)) lines.push(slotsLine(next));
  if (rolloutDone(next) && (prev === undefined || !rolloutDone(prev))) {
    lines.push('rollout done: every node rebooted, none needs a reboot, no slot held');
  }
  const prefix = `[frame ${frameNo} +${(elapsedMs / 1000).toFixed(1)}s]`;
  return lines.map((l) => `${prefix} ${l}`);
}

/**
 * Escape sequences that replace the previous drawing (`previousLines` lines) with `lines` on a
 * terminal: cursor up, clear to the end of the screen, the new text.
 */
export function redraw(previousLines: number, lines: readonly string[]): string {
  const up = previousLines > 0 ? `\x1b[${previousLines}F` : '';
  return `${up}\x1b[J${lines.join('\n')}\n`;
}

/** Rows `lines` take on a terminal `columns` wide (a longer line wraps), for {@link redraw}. */
export function screenRows(lines: readonly string[], columns: number): number {
  const width = Math.max(1, columns);
  return lines.reduce((sum, l) => sum + Math.max(1, Math.ceil(l.length / width)), 0);
}
