/**
 * The window gate: reboots start only inside a reboot window, in its time zone, and never on a
 * blackout date (the rule itself is protocol's windowVerdict, shared with the CLI). One verdict
 * per plan: every node alike.
 */
import { windowVerdict } from '@baton/protocol';
import type { RebootWindow } from '@baton/protocol/config';
import type { NodeGate } from './gate.ts';

export interface WindowSettings {
  readonly windows: readonly RebootWindow[];
  readonly timeZone: string;
  readonly blackoutDates: readonly string[];
}

export function windowGate(s: WindowSettings, now: Date): NodeGate {
  const verdict = windowVerdict(s.windows, s.timeZone, s.blackoutDates, now);
  return {
    blocks: () => (verdict.open ? undefined : { reason: verdict.why, detail: verdict.detail }),
  };
}
