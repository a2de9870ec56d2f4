/**
 * Helpers shared by the configuration tests (not exported from the package index).
 */
import { InvalidValueError, issueDetail, type ValueType } from './values.ts';

/** Parses `text` with a value type's schema: the value, or the problem text a user would see. */
export function run<T>(
  type: ValueType<T>,
  text: string,
): { ok: true; value: T } | { ok: false; detail: string } {
  const result = type.schema.safeParse(text);
  return result.success ? { ok: true, value: result.data } : { ok: false, detail: issueDetail(result.error) };
}

/** The message of the InvalidValueError `parse` throws; fails the test when it throws nothing. */
export function detailOf(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    if (error instanceof InvalidValueError) return error.message;
    throw error;
  }
  throw new Error('expected an InvalidValueError');
}
