import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configDocPath, renderConfigDoc } from './config-docs.ts';

describe('docs/configuration.md', () => {
  it('is what the option tables render (run `pnpm run docs` after changing an option)', () => {
    expect(readFileSync(configDocPath, 'utf8')).toBe(renderConfigDoc());
  });

  it('lists the kured names baton accepts', () => {
    const doc = renderConfigDoc();
    for (const flag of [
      '--period',
      '--reboot-days',
      '--drain-timeout',
      '--reboot-command',
      '--lock-release-delay',
    ]) {
      expect(doc).toContain(`\`${flag}\``);
    }
  });
});
