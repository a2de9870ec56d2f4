import { describe, expect, it } from 'vitest';
import type { NodeView, PauseView, SlotView } from './view.ts';
import { whyReport } from './why.ts';

const base: NodeView = {
  name: 'node-a',
  needsReboot: 'yes',
  rebootRequired: {
    status: 'True',
    reason: 'SentinelPresent',
    message: null,
    since: '2026-01-10T11:00:00.000Z',
  },
  phase: null,
  phaseSince: null,
  slot: null,
  granted: false,
  gate: null,
  blocked: null,
  since: null,
  requestedBy: null,
  attempts: null,
  optedOut: false,
  cordoned: false,
};
const notPaused: PauseView = {
  paused: false,
  holder: null,
  reason: null,
  since: null,
  until: null,
  description: null,
};
const paused: PauseView = {
  paused: true,
  holder: 'manual:alice',
  reason: 'change freeze',
  since: '2026-01-10T10:00:00.000Z',
  until: null,
  description: 'paused by manual:alice',
};
const freeSlot: SlotView = {
  name: 'baton-slot-0',
  index: 0,
  holder: null,
  acquired: null,
  renewed: null,
  expires: null,
  valid: false,
};

function why(node: Partial<NodeView>, pause = notPaused, slots: SlotView[] = [freeSlot]) {
  return whyReport({ node: { ...base, ...node }, pause, slots, optOutLabel: 'baton.dev/opt-out', time: 'T' });
}
const verdicts = (r: ReturnType<typeof why>) => Object.fromEntries(r.gates.map((g) => [g.gate, g.verdict]));
const text = (r: ReturnType<typeof why>, gate: string) => r.gates.find((g) => g.gate === gate)?.text;

describe('whyReport', () => {
  it('gives every gate a verdict, in a fixed order', () => {
    expect(why({}).gates.map((g) => g.gate)).toEqual([
      'reboot-required',
      'request',
      'attempts',
      'opt-out',
      'pause',
      'grant',
      'controller',
      'cordon',
      'phase',
    ]);
  });

  it('a pending node with nothing against it waits for the controller', () => {
    const r = why({});
    expect(r.summary).toBe(
      'node-a needs a reboot and nothing here holds it back; it waits for the controller to grant a slot',
    );
    expect(verdicts(r)).toMatchObject({
      'reboot-required': 'pass',
      'opt-out': 'pass',
      pause: 'pass',
      grant: 'info',
    });
    expect(text(r, 'grant')).toBe('no grant; 0 of 1 slot Lease(s) held');
    expect(text(r, 'controller')).toMatch(/has not reported on this node \(no RebootGate condition\)/);
  });

  it('names pause and opt-out together when both hold the node back', () => {
    const r = why({ optedOut: true }, paused);
    expect(r.summary).toBe('node-a will not be granted a reboot now; held back by: opt-out, pause');
    expect(text(r, 'opt-out')).toMatch(
      /label baton.dev\/opt-out=true.*kubectl label node node-a baton.dev\/opt-out-/,
    );
    expect(text(r, 'pause')).toBe(
      'paused by manual:alice — reason: change freeze; no new grants until kubectl baton resume',
    );
  });

  it('reports the controller RebootGate condition in its words', () => {
    const r = why({
      gate: { status: 'True', reason: 'OutsideWindow', message: 'outside mo-fr 22:00-04:00', since: 'S' },
      blocked: 'OutsideWindow',
    });
    expect(text(r, 'controller')).toBe(
      'the controller holds it back: OutsideWindow: outside mo-fr 22:00-04:00 since S',
    );
    expect(r.summary).toMatch(/held back by: controller$/);
    const twice = why({
      gate: {
        status: 'True',
        reason: 'Paused',
        message: 'Paused: paused by manual:a; OptedOut: label x=true',
        since: null,
      },
    });
    expect(text(twice, 'controller')).toBe(
      'the controller holds it back: Paused: paused by manual:a; OptedOut: label x=true',
    );
    const granted = why({ gate: { status: 'False', reason: 'Granted', message: null, since: null } });
    expect(verdicts(granted).controller).toBe('pass');
  });

  it.each([
    ['no', /does not need a reboot: RebootRequired=False/],
    ['unknown', /unknown never means reboot/],
    ['unreported', /no baton agent reports for this node/],
    ['held', /attempt limit/],
  ] as const)('needsReboot %s blocks: %s', (needsReboot, words) => {
    const r = why({ needsReboot });
    expect(verdicts(r)['reboot-required']).toBe('block');
    expect(text(r, 'reboot-required')).toMatch(words);
  });

  it('tells how to release a node held at the attempt limit', () => {
    const r = why({ needsReboot: 'held', attempts: 3, phase: 'Held' });
    expect(text(r, 'attempts')).toBe(
      'held after 3 attempt(s): the sentinel survived the reboots; to let it try again: kubectl annotate node node-a baton.dev/reboot-attempts-',
    );
  });

  it('a granted node may reboot now; an expired grant is said to be expired', () => {
    const held: SlotView = { ...freeSlot, holder: 'node-a', acquired: 'A', expires: 'E', valid: true };
    const r = why({ slot: 'baton-slot-0', granted: true, phase: 'Draining', cordoned: true }, notPaused, [
      held,
    ]);
    expect(r.summary).toBe('node-a holds baton-slot-0: it may reboot now (phase Draining)');
    expect(text(r, 'grant')).toBe('holds baton-slot-0 (granted A, valid until E): it may reboot now');
    expect(text(r, 'cordon')).toMatch(/^cordoned, by baton for this reboot/);
    const expired = why({ slot: 'baton-slot-0' }, notPaused, [{ ...held, valid: false }]);
    expect(text(expired, 'grant')).toMatch(/^named by baton-slot-0, but that grant expired at E/);
  });

  it('says who requested the reboot, and that an ended pause no longer counts', () => {
    const r = why({ requestedBy: 'bob' }, { ...paused, paused: false, until: 'U', description: null });
    expect(text(r, 'request')).toMatch(/requested by "bob".*kubectl baton cancel node-a/);
    expect(text(r, 'pause')).toBe('not paused (the pause by manual:alice ended at U)');
  });
});
