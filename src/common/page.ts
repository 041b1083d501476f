import { badInput } from './errors';
import { UUID } from './text';

/** Relay-style pages, newest first: `first` 1–100 (default 20) after an opaque cursor of creation time and id. */

/** The page size a caller asked for, checked: BAD_USER_INPUT outside 1–100. */
export function pageSize(first: number | null | undefined): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > 100) throw badInput('first must be from 1 to 100', 'first');
  return size;
}

/** A page from `first + 1` rows read newest first: the extra row only says there is a next page. */
export function connection<T extends { createdAt: Date; id: string }>(rows: T[], first: number) {
  const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(node), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.length ? edges[edges.length - 1].cursor : null } };
}

/** Cursors are opaque to clients: base64url of the row's creation time and id. */
export function encodeCursor(order: { createdAt: Date; id: string }): string {
  return Buffer.from(`${order.createdAt.toISOString()}|${order.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const bad = () => badInput('after is not a cursor returned by this API', 'after');
  if (cursor.length > 128 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [iso, id, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (extra !== undefined || !id || !UUID.test(id) || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) {
    throw bad();
  }
  return { createdAt, id };
}
