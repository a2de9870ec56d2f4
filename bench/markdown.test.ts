import { describe, expect, it } from 'vitest';
import { type BenchReport, renderMarkdown } from './markdown.ts';

const report: BenchReport = {
  env: {
    date: '2026-11-26T06:00:00.000Z',
    command: 'npx pnpm@12.4.2 run bench',
    host: { cpus: 2, cpuModel: 'Some CPU', memoryGiB: 24, kernel: 'Linux 6' },
    versions: { node: 'v24.21.0', kured: '1.23.0' },
    sizes: { trials: 50, nodes: 50 },
  },
  figures: [
    {
      item: 1,
      what: 'touch → grant p99',
      baton: '0.8 s',
      reference: '',
      ratio: '',
      target: '≤ 2 s',
      met: true,
      note: '',
      load: { min: 1, mean: 2.5, max: 4 },
    },
    {
      item: 4,
      what: 'controller RSS | 5,000 nodes',
      baton: '260 MiB',
      reference: '',
      ratio: '',
      target: '≤ 200 MiB',
      met: false,
      note: 'by 60 MiB (30 %): the node cache',
      load: 3.14259,
    },
  ],
  notes: [{ heading: 'Findings', body: 'Text.\n' }],
  svg: 'benchmarks-rollout.svg',
  skipped: ['5,000 nodes: did not fit'],
};

describe('renderMarkdown', () => {
  const md = renderMarkdown(report);
  it('names the command, date, machine, versions and sizes', () => {
    expect(md).toContain('`npx pnpm@12.4.2 run bench` on 2026-11-26T06:00:00.000Z');
    expect(md).toContain('| CPU | Some CPU, 2 cores |');
    expect(md).toContain('| kured | 1.23.0 |');
    expect(md).toContain('| Sizes | trials=50, nodes=50 |');
  });
  it('gives each figure its verdict, the miss with by how much, and the load average', () => {
    expect(md).toContain('| 1 | touch → grant p99 | 0.8 s |  |  | ≤ 2 s | met | 2.50 (1.00–4.00) |');
    expect(md).toContain('controller RSS \\| 5,000 nodes');
    expect(md).toContain('**missed**: by 60 MiB (30 %): the node cache | 3.14 |');
  });
  it('embeds the picture, the notes and what was not measured', () => {
    expect(md).toContain('![Rollout timeline: baton above kured on one time axis](benchmarks-rollout.svg)');
    expect(md).toContain('## Findings\n\nText.\n');
    expect(md).toContain('## Not measured in this run\n\n- 5,000 nodes: did not fit');
  });
});
