/**
 * The one conflict-aware read-modify-write of baton. Every write that must not clobber a
 * concurrent one (a Node's taints and unschedulable flag, a Lease's holder) goes through here:
 * read, let the caller decide on the fresh object, replace with its resourceVersion; a 409 means
 * somebody else wrote first, so read again and decide again. Never a blind overwrite.
 */
import { isConflict } from './kube-errors.ts';

export interface UpdateOptions {
  /** Attempts before giving up on repeated conflicts (default 5). */
  readonly attempts?: number;
  /** Pause between attempts, growing linearly (default 50 ms). */
  readonly backoffMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type UpdateResult<T> =
  | { readonly changed: true; readonly object: T }
  | { readonly changed: false; readonly object: T };

/**
 * @param read    fetches the current object (with its resourceVersion)
 * @param mutate  returns the desired object, or `undefined` when nothing needs to change (then
 *                nothing is written); it may throw to abort (e.g. "the slot is no longer free")
 * @param write   replaces the object; must send the resourceVersion it was given
 */
export async function updateWithRetry<T>(
  read: () => Promise<T>,
  mutate: (current: T) => T | undefined,
  write: (desired: T) => Promise<T>,
  opts: UpdateOptions = {},
): Promise<UpdateResult<T>> {
  const attempts = opts.attempts ?? 5;
  const backoff = opts.backoffMs ?? 50;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    const current = await read();
    const desired = mutate(structuredClone(current));
    if (desired === undefined) return { changed: false, object: current };
    try {
      return { changed: true, object: await write(desired) };
    } catch (err) {
      if (!isConflict(err) || attempt >= attempts) throw err;
      await sleep(backoff * attempt);
    }
  }
}
