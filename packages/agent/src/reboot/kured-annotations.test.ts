import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  KURED_MOST_RECENT_REBOOT_NEEDED,
  KURED_REBOOT_IN_PROGRESS,
  kuredAnnotationsPatch,
} from './kured-annotations.ts';

const NOW = new Date('2026-12-07T21:00:05.678Z');

function node(required: 'True' | 'False' | undefined, annotations: Record<string, string> = {}): V1Node {
  return {
    metadata: { name: 'n', annotations },
    status: {
      conditions:
        required === undefined
          ? []
          : [
              {
                type: 'RebootRequired',
                status: required,
                reason: required === 'True' ? 'SentinelPresent' : 'NoSentinel',
              },
            ],
    },
  };
}

describe("kured's node annotations", () => {
  it('sets both to the time the need was first seen, in kured\u2019s RFC 3339 form', () => {
    expect(kuredAnnotationsPatch(node('True'), NOW)).toEqual({
      annotations: {
        [KURED_REBOOT_IN_PROGRESS]: '2026-12-07T21:00:05Z',
        [KURED_MOST_RECENT_REBOOT_NEEDED]: '2026-12-07T21:00:05Z',
      },
    });
  });

  it('leaves them while the need lasts (the first time stays)', () => {
    const n = node('True', {
      [KURED_REBOOT_IN_PROGRESS]: '2026-12-07T20:00:00Z',
      [KURED_MOST_RECENT_REBOOT_NEEDED]: '2026-12-07T20:00:00Z',
    });
    expect(kuredAnnotationsPatch(n, NOW)).toBeUndefined();
  });

  it('removes in-progress once nothing is needed, and keeps most-recent', () => {
    const n = node('False', {
      [KURED_REBOOT_IN_PROGRESS]: '2026-12-07T20:00:00Z',
      [KURED_MOST_RECENT_REBOOT_NEEDED]: '2026-12-07T20:00:00Z',
    });
    expect(kuredAnnotationsPatch(n, NOW)).toEqual({ annotations: { [KURED_REBOOT_IN_PROGRESS]: null } });
    expect(
      kuredAnnotationsPatch(node('False', { [KURED_MOST_RECENT_REBOOT_NEEDED]: 'x' }), NOW),
    ).toBeUndefined();
  });

  it('writes nothing on a node that never reported', () => {
    expect(kuredAnnotationsPatch(node(undefined), NOW)).toBeUndefined();
  });
});
