import { describe, expect, it } from 'vitest';
import {
  Annotation,
  DOMAIN,
  EventReason,
  GateReason,
  Label,
  PAUSE_LEASE,
  PAUSE_REASON_ANNOTATION,
  SlotAnnotation,
  slotIndexOf,
  slotLeaseName,
} from './protocol.ts';

describe('slot Lease names', () => {
  it.each([0, 1, 9, 10, 123])('round-trips slot %i', (i) => {
    expect(slotIndexOf(slotLeaseName(i))).toBe(i);
  });

  it.each(['baton-slot-', 'baton-slot-01', 'baton-slot--1', 'baton-slot-1a', 'baton-pause', 'other-slot-1'])(
    'does not take %s for a slot',
    (name) => {
      expect(slotIndexOf(name)).toBeUndefined();
    },
  );

  it('refuses a negative or fractional index', () => {
    expect(() => slotLeaseName(-1)).toThrow(/slot index/);
    expect(() => slotLeaseName(1.5)).toThrow(/slot index/);
  });

  it('keeps the pause Lease out of the slot namespace', () => {
    expect(slotIndexOf(PAUSE_LEASE)).toBeUndefined();
  });
});

describe('protocol names', () => {
  it('puts every annotation and label under the baton domain, as valid qualified names', () => {
    const qualified = /^[a-z0-9.-]+\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
    for (const key of [
      ...Object.values(Annotation),
      ...Object.values(Label),
      ...Object.values(SlotAnnotation),
      PAUSE_REASON_ANNOTATION,
    ]) {
      expect(key.startsWith(`${DOMAIN}/`)).toBe(true);
      expect(key).toMatch(qualified);
      expect(key.split('/')[1]?.length).toBeLessThanOrEqual(63);
    }
  });

  it('uses CamelCase event and gate reasons (the API server requires it for Events)', () => {
    for (const r of [...Object.values(EventReason), ...Object.values(GateReason)])
      expect(r).toMatch(/^[A-Z][A-Za-z]+$/);
  });
});
