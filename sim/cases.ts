/**
 * Schedules the simulation found on the code before the safety fixes (issue 14), shrunk by
 * fast-check to the fewest actions that still failed there, with the violation each produced.
 * They must all pass now (sim.test.ts); `pnpm run sim -- --cases` prints how each runs today.
 * docs/safety.md tells the story of each and shows them failing on the earlier code.
 */
import type { Scenario } from './property.ts';

export interface FoundCase {
  /** Which point of the issue it is. */
  readonly point: string;
  readonly title: string;
  /** What it broke on the code before the fixes (the shrunk failure's first line). */
  readonly before: string;
  readonly scenario: Scenario;
}

export const FOUND_BEFORE_THE_FIXES: readonly FoundCase[] = [
  {
    point: '1',
    title: 'a reboot loop under one grant: a sentinel that cannot be read right after the boot',
    before: '[reboot-loop] at 1m19.581s: node-0 rebooted 2 times for one need (--max-reboot-attempts=1)',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 1,
      },
      actions: [
        { at: 0, kind: 'sticky-sentinel', target: 0, arg: 0 },
        { at: 0, kind: 'unknown-after-boot', target: 0, arg: 7017 },
      ],
    },
  },
  {
    point: '2',
    title: 'the slot count lived only in Lease objects: a held slot Lease deleted while its node reboots',
    before: '[too-many-down] at 0m30.058s: 2 machines down at once (node-0, node-2), concurrency 1',
    scenario: {
      config: {
        seed: 0,
        nodes: 3,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 3,
      },
      actions: [{ at: 11010, kind: 'delete-slot', target: 0, arg: 0 }],
    },
  },
  {
    point: '3',
    title: 'settle timed with an agent clock 30 minutes behind: the next node before the settle time',
    before:
      '[granted-before-settled] at 0m41.366s: controller-0 granted baton-slot-0 to node-0 while node-0 hold slots and node-1 has not settled (concurrency 1)',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 60000,
        needing: 2,
      },
      actions: [{ at: 0, kind: 'skew-agent', target: 1, arg: 0 }],
    },
  },
  {
    point: '3',
    title: 'an agent clock 52 s ahead: every grant looked expired, a grant/release loop',
    before: '[grant-loop] at 0m12.309s: node-0 was granted 8 times for one need',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 1,
      },
      actions: [{ at: 0, kind: 'skew-agent', target: 0, arg: 1852980 }],
    },
  },
  {
    point: '5',
    title: 'a reboot that never happens (the command exits 0, nothing goes down): cordoned without bound',
    before: '[not-at-rest] at 45m00.000s: node-0 is left cordoned (phase Rebooting)',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 1,
      },
      actions: [{ at: 0, kind: 'reboot-never', target: 0, arg: 0 }],
    },
  },
  {
    point: '6',
    title: 'a reboot command that fails while the shutdown is under way: undone at once, rebooted twice',
    before: '[reboot-loop] at 1m44.136s: node-0 rebooted 2 times for one need (--max-reboot-attempts=1)',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 1,
      },
      actions: [{ at: 0, kind: 'reboot-fail-then-down', target: 0, arg: 0 }],
    },
  },
  {
    point: '7',
    title: 'no back-off after a refused drain: granted again at once, in a loop',
    before: '[grant-loop] at 1m19.829s: node-0 was granted 8 times for one need',
    scenario: {
      config: {
        seed: 0,
        nodes: 2,
        concurrency: 1,
        replicas: 1,
        maxRebootAttempts: 1,
        settleMs: 0,
        needing: 1,
      },
      actions: [{ at: 0, kind: 'drain-refused', target: 0, arg: 0 }],
    },
  },
];
