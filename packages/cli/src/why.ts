/**
 * `kubectl baton why NODE`: every gate's verdict for one node, in words, from what is in the
 * cluster. Pure: built from the node's {@link NodeView}, the pause and the slots.
 *
 * The CLI cannot see the controller's configuration (windows, blackout dates, budgets), so for
 * those it reports the controller's own `RebootGate` condition; what it can check itself (the
 * agent's condition, the attempt limit, the opt-out label, the pause, the grant, the cordon) it
 * checks from the objects, so the answer holds even while the controller is down.
 */
import {
  AgentPhase,
  Annotation,
  ConditionStatus,
  IN_FLIGHT_PHASES,
  RebootRequiredReason,
} from '@baton/protocol';
import type { NodeView, PauseView, SlotView } from './view.ts';

export type Verdict = 'pass' | 'block' | 'info';

export interface GateVerdict {
  /** Stable name of the gate, for `-o json`. */
  readonly gate:
    | 'reboot-required'
    | 'request'
    | 'attempts'
    | 'opt-out'
    | 'pause'
    | 'grant'
    | 'controller'
    | 'cordon'
    | 'phase';
  /** `block`: holds the node back; `pass`: lets it through; `info`: neither, context only. */
  readonly verdict: Verdict;
  readonly text: string;
}

export interface WhyReport {
  readonly kind: 'BatonWhy';
  readonly version: 1;
  readonly time: string;
  readonly node: string;
  /** One sentence: may it reboot now, and if not, what holds it back. */
  readonly summary: string;
  readonly gates: readonly GateVerdict[];
}

const at = (t: string | null): string => (t === null ? '' : ` since ${t}`);

export function whyReport(input: {
  readonly node: NodeView;
  readonly pause: PauseView;
  readonly slots: readonly SlotView[];
  readonly optOutLabel: string;
  readonly time: string;
}): WhyReport {
  const { node: n, pause, slots, optOutLabel } = input;
  const gates: GateVerdict[] = [];
  const rr = n.rebootRequired;
  const reason = rr?.reason ?? 'no reason';
  switch (n.needsReboot) {
    case 'yes':
      gates.push({
        gate: 'reboot-required',
        verdict: 'pass',
        text: `needs a reboot: RebootRequired=True (${reason})${at(rr?.since ?? null)}`,
      });
      break;
    case 'no':
      gates.push({
        gate: 'reboot-required',
        verdict: 'block',
        text: `does not need a reboot: RebootRequired=False (${reason})${at(rr?.since ?? null)}`,
      });
      break;
    case 'held':
      gates.push({
        gate: 'reboot-required',
        verdict: 'block',
        text: `held: the reboot was still needed after the agent's attempt limit (RebootRequired=True, ${RebootRequiredReason.AttemptLimitReached})`,
      });
      break;
    case 'unknown':
      gates.push({
        gate: 'reboot-required',
        verdict: 'block',
        text: `unknown: the agent could not check the sentinel (RebootRequired=${rr?.status ?? ConditionStatus.Unknown}, ${reason}${rr?.message ? `: ${rr.message}` : ''}); unknown never means reboot`,
      });
      break;
    case 'unreported':
      gates.push({
        gate: 'reboot-required',
        verdict: 'block',
        text: 'no RebootRequired condition: no baton agent reports for this node (is the agent DaemonSet running here?)',
      });
      break;
  }

  gates.push(
    n.requestedBy !== null
      ? {
          gate: 'request',
          verdict: 'info',
          text: `a reboot was requested by "${n.requestedBy}" (annotation ${Annotation.RebootRequested}; kubectl baton cancel ${n.name} withdraws it)`,
        }
      : {
          gate: 'request',
          verdict: 'info',
          text: `no request (annotation ${Annotation.RebootRequested} not set)`,
        },
  );

  const held = n.needsReboot === 'held' || n.phase === AgentPhase.Held;
  gates.push(
    held
      ? {
          gate: 'attempts',
          verdict: 'block',
          text: `held after ${n.attempts ?? '?'} attempt(s): the sentinel survived the reboots; to let it try again: kubectl annotate node ${n.name} ${Annotation.RebootAttempts}-`,
        }
      : {
          gate: 'attempts',
          verdict: 'pass',
          text:
            n.attempts !== null && n.attempts > 0
              ? `${n.attempts} reboot attempt(s) so far with the sentinel still present, below the agent's limit`
              : 'no failed reboot attempts',
        },
  );

  gates.push(
    n.optedOut
      ? {
          gate: 'opt-out',
          verdict: 'block',
          text: `opted out: label ${optOutLabel}=true, the controller never grants this node (kubectl label node ${n.name} ${optOutLabel}- to opt back in)`,
        }
      : { gate: 'opt-out', verdict: 'pass', text: `not opted out (label ${optOutLabel} is not "true")` },
  );

  if (pause.paused) {
    gates.push({
      gate: 'pause',
      verdict: 'block',
      text: `${pause.description ?? 'paused'}${pause.reason !== null ? ` — reason: ${pause.reason}` : ''}; no new grants until kubectl baton resume${pause.until !== null ? ' or the end of the pause' : ''}`,
    });
  } else if (pause.holder !== null) {
    gates.push({
      gate: 'pause',
      verdict: 'pass',
      text: `not paused (the pause by ${pause.holder} ended${pause.until !== null ? ` at ${pause.until}` : ''})`,
    });
  } else {
    gates.push({ gate: 'pause', verdict: 'pass', text: 'not paused' });
  }

  const mine = slots.find((s) => s.name === n.slot);
  if (n.granted && mine !== undefined) {
    gates.push({
      gate: 'grant',
      verdict: 'pass',
      text: `holds ${mine.name} (granted ${mine.acquired ?? '?'}, valid until ${mine.expires ?? '?'}): it may reboot now`,
    });
  } else if (mine !== undefined) {
    gates.push({
      gate: 'grant',
      verdict: 'info',
      text: `named by ${mine.name}, but that grant expired${mine.expires !== null ? ` at ${mine.expires}` : ''}; the agent will not act on it (the controller renews grants while the node makes progress)`,
    });
  } else {
    const held = slots.filter((s) => s.holder !== null);
    const list = held.map((s) => `${s.name}: ${s.holder}`).join(', ');
    gates.push({
      gate: 'grant',
      verdict: 'info',
      text:
        slots.length === 0
          ? 'no grant (no slot Leases exist yet; the controller creates them when it first grants)'
          : `no grant; ${held.length} of ${slots.length} slot Lease(s) held${list !== '' ? ` (${list})` : ''}`,
    });
  }

  const g = n.gate;
  if (g === null) {
    gates.push({
      gate: 'controller',
      verdict: 'info',
      text: 'the controller has not reported on this node (no RebootGate condition): is the controller running, and a version that writes it?',
    });
  } else {
    // The controller's message already starts with the reason (`<Reason>: <detail>; …`): say it once.
    const reason = g.reason ?? 'no reason';
    const said = g.message
      ? g.message.startsWith(`${reason}:`)
        ? g.message
        : `${reason}: ${g.message}`
      : reason;
    const words = `${said}${at(g.since)}`;
    gates.push(
      g.status === ConditionStatus.True
        ? { gate: 'controller', verdict: 'block', text: `the controller holds it back: ${words}` }
        : { gate: 'controller', verdict: 'pass', text: `the controller does not hold it back: ${words}` },
    );
  }

  gates.push({
    gate: 'cordon',
    verdict: 'info',
    text: !n.cordoned
      ? 'schedulable (not cordoned)'
      : n.phase !== null && IN_FLIGHT_PHASES.has(n.phase)
        ? 'cordoned, by baton for this reboot (it uncordons after the reboot unless the node was cordoned before)'
        : 'cordoned (not by a reboot in progress; baton never undoes a cordon it did not make)',
  });

  gates.push({
    gate: 'phase',
    verdict: 'info',
    text:
      n.phase === null
        ? 'no agent phase recorded (baton has not acted on this node)'
        : `agent phase ${n.phase}${at(n.phaseSince)}`,
  });

  return {
    kind: 'BatonWhy',
    version: 1,
    time: input.time,
    node: n.name,
    summary: summary(n, gates),
    gates,
  };
}

function summary(n: NodeView, gates: readonly GateVerdict[]): string {
  if (n.granted)
    return `${n.name} holds ${n.slot}: it may reboot now${n.phase !== null ? ` (phase ${n.phase})` : ''}`;
  if (n.needsReboot === 'no') return `${n.name} does not need a reboot`;
  const blocking = gates.filter((g) => g.verdict === 'block').map((g) => g.gate);
  if (blocking.length > 0)
    return `${n.name} will not be granted a reboot now; held back by: ${blocking.join(', ')}`;
  return `${n.name} needs a reboot and nothing here holds it back; it waits for the controller to grant a slot`;
}
