/**
 * Reboot windows, several windows, time zones and blackout dates on the real control plane: a
 * real controller process and real agents on fake nodes (harness/testbed.ts), every slot Lease
 * change recorded by a watch. Each test holds a node back with one configuration — RebootGate
 * `True` with the window's reason, and no slot Lease naming the node at any moment of 15–20 s of
 * controller passes (`--period=1s`) — then restarts the controller with a configuration that
 * differs only where the gate should open, and sees the grant and the reboot: the gate held the
 * node, not a broken setup.
 *
 * Times are real: the zones are picked from the current time (windows-time.ts) so that "now" is
 * hours away from every window edge and from midnight in the zone a test relies on.
 */
import { GateReason, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SimulatedNode } from './harness/fleet.ts';
import { metricSample } from './harness/gates.ts';
import { loadKubeConfig, waitFor } from './harness/kube.ts';
import { controllerTestbed, type StartedController, type Testbed } from './harness/testbed.ts';
import {
  addDays,
  clockIn,
  DAY_NAMES,
  hhmm,
  otherDays,
  timeOfDayDistance,
  zoneNear,
  zoneOnOtherDate,
} from './windows-time.ts';

const HOUR = 3600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('reboot windows and blackout dates', () => {
  let bed: Testbed;
  let ctl: StartedController | undefined;

  beforeAll(async () => {
    bed = await controllerTestbed(loadKubeConfig(inject('kubeconfig')), { name: 'windows', nodes: 3 });
  });

  afterEach(async () => {
    await ctl?.stop();
    ctl = undefined;
  });

  afterAll(async () => {
    await bed?.stop();
  });

  /**
   * Stops the running controller, then starts one with `args` over the testbed's fast defaults.
   * Three slots: a grant a failed test left behind cannot make another test wait for a slot.
   */
  const restart = async (args: readonly string[]) => {
    await ctl?.stop();
    ctl = undefined;
    ctl = await bed.startController(['--concurrency=3', ...args]);
    return ctl;
  };

  const rebootRequired = async (name: string) =>
    (await bed.core.readNode({ name })).status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION)
      ?.status;

  /** The node's agent reports that it needs a reboot. */
  const needsReboot = async (node: SimulatedNode) => {
    await node.touchSentinel();
    await waitFor(
      `${node.name} asking for a reboot`,
      async () => (await rebootRequired(node.name)) === 'True',
    );
  };

  /**
   * `node` is held back by `reason` for `ms` while the controller passes once a second: the
   * RebootGate condition is True with that reason and a message naming each of `mentions`,
   * `baton_node_blocked` reports it, and no slot Lease names the node — neither at each second's
   * look nor at any change the recorder's watch saw.
   */
  const heldBack = async (
    c: StartedController,
    node: string,
    reason: GateReason,
    mentions: readonly string[],
    ms: number,
  ) => {
    // A grant ends the wait at once: the failure then says so instead of timing out.
    const seen = await waitFor(`RebootGate ${reason} on ${node}`, async () => {
      const slot = await bed.slotOf(node);
      if (slot !== undefined) return { slot };
      const g = await bed.rebootGate(node);
      return g?.status === 'True' && g.reason === reason ? { gate: g } : undefined;
    });
    expect(seen.slot, `${node} granted while it should be held back by ${reason}`).toBeUndefined();
    const message = seen.gate?.message ?? '';
    expect(message).toMatch(new RegExp(`^${reason}: `));
    for (const m of mentions) expect(message).toContain(m);
    await waitFor(
      `baton_node_blocked{reason="${reason}"}`,
      async () => (await metricSample(c.metricsUrl, 'baton_node_blocked', { node, reason })) === 1,
    );
    const ticks = async () =>
      (await metricSample(c.metricsUrl, 'baton_reconcile_requests_total', { source: 'tick' })) ?? 0;
    const before = await ticks();
    const until = Date.now() + ms;
    while (Date.now() < until) {
      expect(await bed.slotOf(node), `${node} must not be granted`).toBeUndefined();
      await sleep(1000);
    }
    // The controller was deciding all along (one pass a second), not stuck.
    expect((await ticks()) - before).toBeGreaterThanOrEqual(ms / 1000 - 3);
    expect(bed.recorder.grantsOf(node), `slot changes naming ${node}`).toBe(0);
    expect((await bed.rebootGate(node))?.reason).toBe(reason);
    expect(c.process.hasExited()).toBe(false);
  };

  /** `node` gets a slot Lease carrying its grant, reboots, and the slot is released. */
  const grantedAndRebooted = async (node: SimulatedNode) => {
    const slot = await waitFor(`${node.name} granted`, () => bed.slotOf(node.name), 30_000).catch(
      async (err: unknown) => {
        const g = await bed.rebootGate(node.name);
        throw new Error(`${String(err)}; RebootGate ${g?.status} ${g?.reason}: ${g?.message}`);
      },
    );
    expect(slot).toMatch(/^baton-slot-/);
    await waitFor(
      `${node.name} rebooted and its slot released`,
      async () =>
        node.reboots >= 1 &&
        (await rebootRequired(node.name)) === 'False' &&
        !bed.recorder.holders().includes(node.name),
      60_000,
    );
    expect(bed.recorder.grantsOf(node.name)).toBe(1);
    expect(node.reboots).toBe(1);
  };

  it('a blackout date of today in --time-zone: never granted though the window is open; granted where that date is over or not yet', async () => {
    const [node] = bed.nodes;
    if (!node) throw new Error('no node');
    const now = new Date();
    // A zone where it is about noon: its date stays the same for the whole test.
    const zone = zoneNear(12 * HOUR, now);
    expect(timeOfDayDistance(zone.seconds, 0)).toBeGreaterThan(10 * HOUR);
    const blackout = [`--blackout-date=${addDays(zone.date, -7)},${zone.date}`, `--blackout-date=2020-01-01`];
    await needsReboot(node);

    // The default window is every day, all day: only the blackout date holds the node back.
    const c = await restart([`--time-zone=${zone.zone}`, ...blackout]);
    await heldBack(c, node.name, GateReason.BlackoutDate, [zone.date, zone.zone], 20_000);

    // The very same blackout dates, judged in a zone where today is another date: granted.
    const other = zoneOnOtherDate(zone.date, new Date());
    expect(timeOfDayDistance(other.seconds, 0)).toBeGreaterThanOrEqual(20 * 60);
    await restart([`--time-zone=${other.zone}`, ...blackout]);
    await grantedAndRebooted(node);
  }, 120_000);

  it('several --reboot-window flags: held back while none contains now, granted once the second one does', async () => {
    const node = bed.nodes[1];
    if (!node) throw new Error('no node');
    const z = zoneNear(12 * HOUR, new Date());
    const today = DAY_NAMES[z.weekday];
    const t = z.seconds;
    expect(timeOfDayDistance(t, 0)).toBeGreaterThan(10 * HOUR);
    // Every other day of the week all day long: open at this time of day, on another day.
    const otherDaysAllDay = `--reboot-window=${otherDays(z.weekday)} 0:00-23:59:59`;
    await needsReboot(node);

    // Today only earlier and later: three windows, none open now.
    const c = await restart([
      `--time-zone=${z.zone}`,
      otherDaysAllDay,
      `--reboot-window=${today} ${hhmm(t - 3 * HOUR)}-${hhmm(t - HOUR)}`,
      `--reboot-window=${today} ${hhmm(t + HOUR)}-${hhmm(t + 3 * HOUR)}`,
    ]);
    await heldBack(c, node.name, GateReason.OutsideWindow, [z.date, z.zone], 15_000);

    // The first window unchanged; the second one now spans this hour of today: granted.
    await restart([
      `--time-zone=${z.zone}`,
      otherDaysAllDay,
      `--reboot-window=${today} ${hhmm(t - HOUR)}-${hhmm(t + HOUR)}`,
    ]);
    await grantedAndRebooted(node);
  }, 120_000);

  it('one window past midnight (--start-time 22:00, --end-time 5:00): held back in a zone where it is noon, granted in one where it is 2 am', async () => {
    const node = bed.nodes[2];
    if (!node) throw new Error('no node');
    const now = new Date();
    const noon = zoneNear(12 * HOUR, now);
    const night = zoneNear(2 * HOUR, now);
    // Hours from the window's edges (22:00, 5:00), and the night zone's date past its midnight.
    expect(timeOfDayDistance(noon.seconds, 12 * HOUR)).toBeLessThanOrEqual(HOUR);
    expect(timeOfDayDistance(night.seconds, 2 * HOUR)).toBeLessThanOrEqual(HOUR);
    const window = ['--start-time=22:00', '--end-time=5:00'];
    await needsReboot(node);

    const c = await restart([...window, `--time-zone=${noon.zone}`]);
    await heldBack(c, node.name, GateReason.OutsideWindow, [noon.date, noon.zone], 15_000);

    // The same window, in the zone where it is past midnight now: open.
    expect(clockIn(night.zone, new Date()).seconds).toBeLessThan(4 * HOUR);
    await restart([...window, `--time-zone=${night.zone}`]);
    await grantedAndRebooted(node);
  }, 120_000);
});
