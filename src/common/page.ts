import { badInput } from './errors';
import { UUID } from './text';

/** Relay-style pages, newest first: `first` 1–100 (default 20) after an opaque cursor of creation time and id. */

/** A row's place in newest-first order: its time, then its id (the keyset a cursor holds). */
export interface CursorKey {
  createdAt: Date;
  id: string;
}

/** The page size a caller asked for, checked: BAD_USER_INPUT outside 1–100. */
export function pageSize(first: number | null | undefined): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > 100) throw badInput('first must be from 1 to 100', 'first');
  return size;
}

/** A page from `first + 1` rows read newest first: the extra row only says there is a next page. */
export function connection<T extends CursorKey>(rows: T[], first: number) {
  return connectionBy(rows, first, (row) => row);
}

/** The same, for rows whose keyset is not their `createdAt` and `id` (e.g. a callback's receivedAt). */
export function connectionBy<T>(rows: T[], first: number, key: (row: T) => CursorKey) {
  const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(key(node)), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.length ? edges[edges.length - 1].cursor : null } };
}

/**
 * A page that also answers `totalCount` (how many rows match the filter in all). The count is a statement of its
 * own, run only when a client selects `totalCount` (the property is a getter) and at most once per page.
 */
export function withTotalCount<P extends object>(page: P, count: () => Promise<number>): P & { readonly totalCount: Promise<number> } {
  let counted: Promise<number> | null = null;
  return Object.defineProperty(page, 'totalCount', { get: () => (counted ??= count()), enumerable: false }) as P & { readonly totalCount: Promise<number> };
}

/** Cursors are opaque to clients: base64url of the row's creation time and id. */
export function encodeCursor(order: CursorKey): string {
  return Buffer.from(`${order.createdAt.toISOString()}|${order.id}`).toString('base64url');
}

/** The ids of rows with a bigint key (callback records), as a cursor may carry them. */
export const BIGINT_ID = /^[1-9][0-9]{0,17}$/;

/** A cursor this API issued, checked: BAD_USER_INPUT otherwise. `id` is what the row's id looks like (a UUID by default). */
export function decodeCursor(cursor: string, id: RegExp = UUID): CursorKey {
  const bad = () => badInput('after is not a cursor returned by this API', 'after');
  if (cursor.length > 128 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [iso, rowId, extra] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (extra !== undefined || !rowId || !id.test(rowId) || Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) {
    throw bad();
  }
  return { createdAt, id: rowId };
}
