/**
 * Putting back a stored tool or rule that an admin change replaced, created or deleted, when
 * the change's audit event cannot be written (see `AdminChange`). Compare-and-sets: a change
 * another admin made meanwhile is never overwritten.
 */
export interface StoredTable<R> {
  get(key: string): Promise<R | undefined>;
  /** Writes `record` only where the stored one is `expected` (`null`: none). */
  replace(record: R, expected: R | null): Promise<boolean>;
  /** Deletes `record` only while it is the stored one (compare-and-delete). */
  remove(record: R): Promise<boolean>;
  /** The record's key, and the part of it a change writes (compared to tell a later change). */
  key(record: R): string;
  body(record: R): unknown;
}

/**
 * Puts `previous` back in place of `written` (for `previous` undefined: removes `written`),
 * unless another change came since; reloads when something was put back.
 */
export async function restoreRecord<R>(
  table: StoredTable<R>,
  previous: R | undefined,
  written: R,
  reload: () => Promise<void>,
): Promise<void> {
  if (previous !== undefined) {
    if (!(await table.replace(previous, written))) return;
  } else {
    // The store compares and deletes in one step. The read is for a store that ignores the
    // comparison (written before it existed): it narrows that race without closing it.
    const current = await table.get(table.key(written));
    if (current === undefined || JSON.stringify(table.body(current)) !== JSON.stringify(table.body(written))) return;
    if (!(await table.remove(written))) return;
  }
  await reload();
}

/** Puts back a record that a delete removed, unless one of its key was written since. */
export async function restoreDeleted<R>(table: StoredTable<R>, deleted: R, reload: () => Promise<void>): Promise<void> {
  if (await table.replace(deleted, null)) await reload();
}
