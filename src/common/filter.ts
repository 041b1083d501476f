import { badInput } from './errors';
import { textProblem } from './text';

/**
 * Checks on the filters of the admin lists (adminOrders, callbacks, refunds). A filter that is absent (null or left
 * out) filters nothing; one that is given and wrong is BAD_USER_INPUT naming the field, before any SQL runs.
 */

/** A text filter matched exactly: well-formed, no control or invisible characters, 1–`max` characters. */
export function filterText(value: string | null | undefined, field: string, max: number): string | null {
  if (value === null || value === undefined) return null;
  const problem = textProblem(value, 1, max);
  if (problem) throw badInput(`${field} ${problem}`, field);
  return value;
}

/** An enum filter: one of `values` (GraphQL checks this already; services check it for every other caller). */
export function filterEnum<E extends string>(value: E | null | undefined, values: Record<string, E>, field: string): E | null {
  if (value === null || value === undefined) return null;
  if (!Object.values(values).includes(value)) throw badInput(`${field} must be one of ${Object.values(values).join(', ')}`, field);
  return value;
}

/** A time range [from, until): each a valid instant, `from` earlier than `until` when both are given. */
export function filterTimeRange(
  from: Date | null | undefined,
  until: Date | null | undefined,
  fields: { from: string; until: string },
): { from: Date | null; until: Date | null } {
  for (const [value, field] of [[from, fields.from], [until, fields.until]] as const) {
    if (value !== null && value !== undefined && (!(value instanceof Date) || Number.isNaN(value.getTime()))) {
      throw badInput(`${field} must be a date-time`, field);
    }
  }
  if (from && until && from.getTime() >= until.getTime()) {
    throw badInput(`${fields.from} must be earlier than ${fields.until}`, fields.from);
  }
  return { from: from ?? null, until: until ?? null };
}

/** One statement: its text and parameters. */
export interface Sql {
  text: string;
  params: unknown[];
}

/**
 * A filtered, newest-first list as SQL: WHERE clauses with `$n` parameters numbered as they are added, then either
 * the keyset page (`first + 1` rows after a cursor, ordered by the time column and id, both descending: the order
 * the list indexes hold) or the count of every row the filter matches.
 */
export class SqlFilter {
  private readonly clauses: string[] = [];
  private readonly params: unknown[] = [];

  /** Adds `clause`, with `$?` standing for the parameter that carries `value`, when the value is given. */
  add(clause: string, value: unknown): this {
    if (value === null || value === undefined) return this;
    this.params.push(value);
    this.clauses.push(clause.replace('$?', `$${this.params.length}`));
    return this;
  }

  /** `select` (e.g. `select … from orders`) filtered, after `cursor`, newest first by (`time`, `id`), `first + 1` rows. */
  page(select: string, keyset: { time: string; id: string }, cursor: { createdAt: Date; id: string } | null, first: number): Sql {
    const params = [...this.params];
    const clauses = [...this.clauses];
    if (cursor) {
      params.push(cursor.createdAt, cursor.id);
      clauses.push(`(${keyset.time}, ${keyset.id}) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(first + 1);
    const where = clauses.length ? ` where ${clauses.join(' and ')}` : '';
    return { text: `${select}${where} order by ${keyset.time} desc, ${keyset.id} desc limit $${params.length}`, params };
  }

  /** How many rows of `from` (a table, e.g. `orders`) the filter matches, as `n`. */
  count(from: string): Sql {
    const where = this.clauses.length ? ` where ${this.clauses.join(' and ')}` : '';
    return { text: `select count(*)::int as n from ${from}${where}`, params: [...this.params] };
  }
}
