import { type PatchColumn, encodeText } from './columns.js';

/** `SET a = $n, b = $n+1::json` for the fields of `patch` that `columns` allows; undefined values are skipped. */
export function patchAssignments(patch: Record<string, unknown>, columns: Record<string, PatchColumn>, params: unknown[]): string[] {
  const assignments: string[] = [];
  for (const [field, value] of Object.entries(patch)) {
    if (!Object.hasOwn(columns, field) || value === undefined) continue;
    const column = columns[field] as PatchColumn;
    params.push(column.encode(value));
    assignments.push(`${column.column} = $${params.length}${column.cast ?? ''}`);
  }
  return assignments;
}

/** Accumulates `WHERE` conditions with numbered parameters. */
export class Conditions {
  readonly params: unknown[] = [];
  private readonly clauses: string[] = [];

  /** Adds a condition; `$?` placeholders are numbered in order with `values`. */
  add(clause: string, ...values: unknown[]): void {
    let text = clause;
    for (const value of values) {
      this.params.push(value);
      text = text.replace('$?', `$${this.params.length}`);
    }
    this.clauses.push(text);
  }

  /** Adds `column = value` when the filter value is given. */
  equals(column: string, value: string | undefined): void {
    if (value !== undefined) this.add(`${column} = $?`, encodeText(value));
  }

  /** A parameter placeholder for a value used outside the conditions (LIMIT). */
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  where(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`;
  }
}

/**
 * The `VALUES` rows of a batch insert: `($1, $2::json, …), ($19, …)`, one parameter per
 * column and row, each followed by its column's cast. A batch goes as
 * one statement with every value a parameter of its own: no array literal, so nothing is
 * escaped on the way. The shapes of batches up to 64 rows are built once.
 */
export class ValuesRows {
  private readonly byCount: Array<string | undefined> = new Array(65);

  constructor(private readonly casts: readonly string[]) {}

  rows(count: number): string {
    const cached = this.byCount[count];
    if (cached !== undefined) return cached;
    const width = this.casts.length;
    const rows: string[] = new Array(count);
    for (let row = 0; row < count; row++) {
      const offset = 1 + row * width;
      rows[row] = `(${this.casts.map((cast, column) => `$${offset + column}${cast}`).join(', ')})`;
    }
    const text = rows.join(', ');
    if (count < this.byCount.length) this.byCount[count] = text;
    return text;
  }
}
