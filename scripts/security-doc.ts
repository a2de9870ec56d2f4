/**
 * Rewrites the table in docs/security.md from e2e/security-table.ts (`pnpm run docs:security`);
 * e2e/security-table.test.ts fails when the committed document differs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { securityTableMarkdown, TABLE_END, TABLE_START } from '../e2e/security-table.ts';

const path = join(import.meta.dirname, '..', 'docs', 'security.md');
const doc = await readFile(path, 'utf8');
const start = doc.indexOf(TABLE_START);
const end = doc.indexOf(TABLE_END);
if (start < 0 || end < start)
  throw new Error(`${path}: the markers ${TABLE_START} … ${TABLE_END} are missing`);
await writeFile(
  path,
  `${doc.slice(0, start + TABLE_START.length)}\n${securityTableMarkdown()}\n${doc.slice(end)}`,
);
console.log(`wrote ${path}`);
