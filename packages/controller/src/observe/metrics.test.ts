import { AgentPhase } from '@baton/protocol';
import type { V1Lease } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NOW, testNode, testSlot } from '../testing/test-support.ts';
import { controllerMetrics } from './metrics.ts';

describe('controllerMetrics().fleet', () => {
  it('exports per-node required and phase, slot holders, and stage durations as they end', async () => {
    const registry = new Registry();
    const m = controllerMetrics(registry);
    const a = testNode('a', { needs: true, since: 90 });
    const b = testNode('b', { needs: false, phase: AgentPhase.Rebooted });
    // First look: a is not granted yet.
    m.fleet([a, b], [testSlot(0) as V1Lease], NOW);
    // Then a holds slot 0, acquired 30 s before NOW: its wait from the condition (90 s ago) was 60 s.
    m.fleet([a, b], [testSlot(0, 'a') as V1Lease], NOW);
    const text = await registry.metrics();
    expect(text).toContain('baton_node_reboot_required{node="a"} 1');
    expect(text).toContain('baton_node_reboot_required{node="b"} 0');
    expect(text).toContain('baton_node_phase{node="b",phase="Rebooted"} 1');
    expect(text).toContain('baton_slot_holder{slot="baton-slot-0",holder="a"} 1');
    expect(text).toMatch(/baton_stage_duration_seconds_count\{stage="waiting"\} 1/);
    expect(text).toMatch(/baton_stage_duration_seconds_sum\{stage="waiting"\} 60\n/);
    expect(text).toContain('baton_reboots_total{outcome="rebooted"} 0');
    expect(text).toContain('baton_halts_total 0');
  });

  it('follows a node through its phases: one phase series at a time, the old one removed', async () => {
    const registry = new Registry();
    const m = controllerMetrics(registry);
    m.fleet([testNode('a', { needs: true })], [], NOW);
    let text = await registry.metrics();
    expect(text).toContain('baton_node_reboot_required{node="a"} 1');
    expect(text).not.toContain('baton_node_phase{node="a"');
    m.fleet([testNode('a', { needs: true, phase: AgentPhase.Draining })], [], NOW);
    m.fleet([testNode('a', { needs: false, phase: AgentPhase.Rebooted })], [], NOW);
    text = await registry.metrics();
    expect(text).toContain('baton_node_reboot_required{node="a"} 0');
    expect(text).toContain('baton_node_phase{node="a",phase="Rebooted"} 1');
    expect(text).not.toContain('phase="Draining"');
    // The annotation removed by hand: no phase series at all.
    m.fleet([testNode('a', { needs: false })], [], NOW);
    expect(await registry.metrics()).not.toContain('baton_node_phase{node="a"');
  });

  it('drops the series of a node that is gone and a slot that was released', async () => {
    const registry = new Registry();
    const m = controllerMetrics(registry);
    m.fleet([testNode('a', { needs: true })], [testSlot(0, 'a') as V1Lease], NOW);
    m.fleet([], [testSlot(0) as V1Lease], NOW);
    const text = await registry.metrics();
    expect(text).not.toContain('node="a"');
    expect(text).not.toContain('holder="a"');
  });

  it("exports kured's kured_reboot_required{node} only when asked, following the condition and the node", async () => {
    const plain = new Registry();
    controllerMetrics(plain).fleet([testNode('a', { needs: true })], [], NOW);
    expect(await plain.metrics()).not.toContain('kured_');

    const registry = new Registry();
    const m = controllerMetrics(registry, { kuredMetric: true });
    m.fleet([testNode('a', { needs: true }), testNode('b', { needs: false })], [], NOW);
    let text = await registry.metrics();
    expect(text).toContain('# TYPE kured_reboot_required gauge');
    expect(text).toContain('kured_reboot_required{node="a"} 1');
    expect(text).toContain('kured_reboot_required{node="b"} 0');
    m.fleet([testNode('a', { needs: false })], [], NOW);
    text = await registry.metrics();
    expect(text).toContain('kured_reboot_required{node="a"} 0');
    expect(text).not.toContain('kured_reboot_required{node="b"}');
  });
});
