import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SECURITY_ROWS, securityTableMarkdown, TABLE_END, TABLE_START } from './security-table.ts';

const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'security.md'), 'utf8');
const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

describe('the table of what each identity may do', () => {
  it('docs/security.md shows exactly the rows the e2e test sends (pnpm run docs:security rewrites it)', () => {
    const start = doc.indexOf(TABLE_START);
    const end = doc.indexOf(TABLE_END);
    expect(start, `docs/security.md lacks ${TABLE_START}`).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    expect(doc.slice(start + TABLE_START.length, end).trim()).toBe(securityTableMarkdown());
  });

  it('refuses at least 25 requests, names every identity, and keeps its keys unique', () => {
    expect(SECURITY_ROWS.filter((r) => r.expected !== 'allowed').length).toBeGreaterThanOrEqual(25);
    expect(new Set(SECURITY_ROWS.map((r) => r.who))).toEqual(
      new Set(['agent', 'agent, unbound token', 'controller', 'operator', 'viewer']),
    );
    expect(new Set(SECURITY_ROWS.map((r) => r.id)).size).toBe(SECURITY_ROWS.length);
  });

  it("the README's count of requests and refusals is the table's", () => {
    const refused = SECURITY_ROWS.filter((r) => r.expected !== 'allowed').length;
    expect(readme.replace(/\s+/g, ' ')).toContain(
      `lists ${SECURITY_ROWS.length} requests the e2e suite sends`,
    );
    expect(readme.replace(/\s+/g, ' ')).toContain(`(${refused} refused)`);
  });
});
