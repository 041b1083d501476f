import { randomUUID } from 'node:crypto';
import { encodeCursor } from '../../src/common/page';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { query } from '../support/db';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount createdAt } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id, channel: PAGE) { url } }`;
const CLOSE = `mutation($id: ID!) { closeOrder(orderId: $id) { status } }`;
const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { id status } }`;
const ORDER_BY_NO = `query($orderNo: String!) { orderByNo(orderNo: $orderNo) { id orderNo status amount } }`;
const ADMIN_ORDERS = `query($filter: AdminOrderFilter, $first: Int, $after: String) {
  adminOrders(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id orderNo status createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const CALLBACKS = `query($filter: CallbackFilter, $first: Int, $after: String) {
  callbacks(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id kind verdict reason signatureValid orderNo notifyId tradeStatus remoteAddress rawLength receivedAt order { id orderNo } } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const REFUNDS = `query($filter: RefundFilter, $first: Int, $after: String) {
  refunds(filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id status amount outRequestNo order { id orderNo } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Created {
  id: string;
  orderNo: string;
  amount: string;
  createdAt: string;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ids = (res: GraphQLResponse) => (Object.values(res.data!)[0] as { edges: Array<{ node: { id: string } }> }).edges.map((e) => e.node.id);

describe('admin views over GraphQL: adminOrders, orderByNo, callbacks, refunds', () => {
  let server: TestServer;
  let admin: string;
  let ana: string;
  let ben: string;
  let eve: string;
  const anas: Created[] = [];
  const bens: Created[] = [];
  /** An instant between ana's fourth and fifth order: 4 orders were created before it, 8 after. */
  let midway: Date;
  /** An instant after the paid orders' callbacks and before the forged notify. */
  let beforeForgery: Date;

  const create = async (token: string, amount = '20.00'): Promise<Created> => {
    const res = await server.gql(CREATE, { input: { amount, subject: 'oolong' } }, token);
    expect(res.errors).toBeUndefined();
    await pause(2); // distinct creation instants, so time filters have sharp edges
    return res.data!.createOrder;
  };
  const pay = async (token: string, order: Created) => {
    const url = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url;
    const paid = await pressPay((await openCashier(url)).cashierUrl);
    expect((await fetch(paid.location!)).status).toBe(200); // the browser's return: a RETURN callback
    await waitFor('the order paid', async () => (await query<{ status: string }>(server.db.url, 'select status from orders where id = $1', [order.id]))[0].status === 'TRADE_SUCCESS');
  };
  const allNotifiesDelivered = (order: Created) =>
    waitFor('every notify delivered', async () => {
      const trade = (await (await fetch(`${server.url}/sandbox/alipay/trades/${order.orderNo}`)).json()) as { notifications: Array<{ status: string }> };
      return trade.notifications.length > 0 && trade.notifications.every((n) => n.status === 'DELIVERED');
    });
  const adminOrders = (variables: Record<string, unknown>, token = admin) => server.gql(ADMIN_ORDERS, variables, token);
  /** The orders the database holds for a condition, newest first: what the API must answer. */
  const ordersWhere = async (where: string, params: unknown[] = []) =>
    (await query<{ id: string }>(server.db.url, `select id from orders where ${where} order by created_at desc, id desc`, params)).map((r) => r.id);
  const counts = async () =>
    (await query<Record<string, number>>(server.db.url, 'select (select count(*)::int from orders) o, (select count(*)::int from callback_logs) c, (select count(*)::int from refunds) r'))[0];

  /** Every page of a list, `first` at a time: the ids in the order given, and the totalCount each page said. */
  async function everyPage(q: string, variables: Record<string, unknown>, first: number) {
    const seen: string[] = [];
    const totals: number[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const res = await server.gql(q, { ...variables, first, after }, admin);
      expect(res.errors).toBeUndefined();
      const conn = Object.values(res.data!)[0] as { totalCount: number; edges: Array<{ node: { id: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
      expect(conn.edges.length).toBeLessThanOrEqual(first);
      seen.push(...conn.edges.map((e) => e.node.id));
      totals.push(conn.totalCount);
      if (!conn.pageInfo.hasNextPage) return { seen, totals };
      after = conn.pageInfo.endCursor;
    }
    throw new Error('more than 100 pages');
  }

  beforeAll(async () => {
    server = await startTestServer();
    admin = await server.token('ops', ['admin']);
    ana = await server.token('ana');
    ben = await server.token('ben');
    eve = await server.token('eve');
    for (let i = 0; i < 4; i++) anas.push(await create(ana, `${10 + i}.00`));
    await pause(5);
    midway = new Date();
    await pause(5);
    for (let i = 0; i < 3; i++) anas.push(await create(ana, `${20 + i}.00`));
    for (let i = 0; i < 5; i++) bens.push(await create(ben, `${30 + i}.00`));
    // ana's first and ben's first are paid through the local Alipay, and partly refunded; ben's second is closed.
    await pay(ana, anas[0]);
    await pay(ben, bens[0]);
    for (const [order, amount] of [[anas[0], '1.00'], [bens[0], '2.00']] as const) {
      const res = await server.gql(REFUND, { input: { orderId: order.id, amount } }, admin);
      expect(res.data!.refundOrder.status).toBe('SUCCEEDED');
    }
    expect((await server.gql(CLOSE, { id: bens[1].id }, ben)).data!.closeOrder.status).toBe('TRADE_CLOSED');
    await allNotifiesDelivered(anas[0]);
    await allNotifiesDelivered(bens[0]);
    // A refund Alipay refused, as the refund flow records one.
    await query(
      server.db.url,
      `insert into refunds (id, order_id, out_request_no, amount, status, failure_reason, requested_by, created_at, updated_at)
       values ($1, $2, $3, 5.00, 'FAILED', 'ACQ.TRADE_HAS_FINISHED: finished', 'ops', now(), now())`,
      [randomUUID(), bens[0].id, `${bens[0].orderNo}Rfailed`],
    );
    await pause(5);
    beforeForgery = new Date();
    await pause(5);
    // Someone without the key claims ana's second order is paid.
    await server.notify(`out_trade_no=${anas[1].orderNo}&trade_status=TRADE_SUCCESS&notify_id=forged1&total_amount=11.00&sign=Zm9yZ2VkLXNpZ25hdHVyZQ==&sign_type=RSA2`);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
  });

  describe('orderByNo', () => {
    it('finds any user’s order by the number a customer reads out, for an admin', async () => {
      const res = await server.gql(ORDER_BY_NO, { orderNo: bens[2].orderNo }, admin);
      expect(res.errors).toBeUndefined();
      expect(res.data!.orderByNo).toEqual({ id: bens[2].id, orderNo: bens[2].orderNo, status: 'WAIT_BUYER_PAY', amount: bens[2].amount });
    });

    it('finds the owner’s own order by its number', async () => {
      const res = await server.gql(ORDER_BY_NO, { orderNo: anas[0].orderNo }, ana);
      expect(res.data!.orderByNo).toMatchObject({ id: anas[0].id, status: 'TRADE_SUCCESS' });
    });

    it('answers a stranger exactly as it answers a number that does not exist (NOT_FOUND, no existence leak)', async () => {
      const stranger = await server.gql(ORDER_BY_NO, { orderNo: anas[0].orderNo }, eve);
      const otherBuyer = await server.gql(ORDER_BY_NO, { orderNo: anas[0].orderNo }, ben);
      const missing = await server.gql(ORDER_BY_NO, { orderNo: '2026010100000000000000000' }, eve);
      const malformed = await server.gql(ORDER_BY_NO, { orderNo: 'x\u0000'.repeat(40) }, eve);
      expect(stranger.data).toEqual({ orderByNo: null });
      expect(stranger.errors![0].extensions).toEqual({ code: 'NOT_FOUND' });
      for (const other of [otherBuyer, missing, malformed]) {
        expect({ status: other.status, data: other.data, errors: other.errors }).toEqual({ status: stranger.status, data: stranger.data, errors: stranger.errors });
      }
    });

    it('needs a signed-in caller', async () => {
      const res = await server.gql(ORDER_BY_NO, { orderNo: anas[0].orderNo });
      expect(res.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
      expect(res.data).toEqual({ orderByNo: null });
    });
  });

  describe('adminOrders', () => {
    it('shows an admin every user’s orders, newest first, with the totalCount of all of them', async () => {
      const res = await adminOrders({ first: 100 });
      expect(res.errors).toBeUndefined();
      expect(ids(res)).toEqual(await ordersWhere('true'));
      expect(ids(res)).toHaveLength(12);
      expect(res.data!.adminOrders.totalCount).toBe(12);
      expect(res.data!.adminOrders.pageInfo.hasNextPage).toBe(false);
    });

    it('filters by each field, and by several at once, with the totalCount of the filter (not of the page)', async () => {
      const cases: Array<[Record<string, unknown>, string[]]> = [
        [{ userId: 'ben' }, [...bens].reverse().map((o) => o.id)],
        [{ userId: 'ana' }, [...anas].reverse().map((o) => o.id)],
        [{ status: 'TRADE_SUCCESS' }, [bens[0].id, anas[0].id]],
        [{ status: 'TRADE_CLOSED' }, [bens[1].id]],
        [{ orderNo: bens[3].orderNo }, [bens[3].id]],
        [{ orderNo: '2026010100000000000000000' }, []],
        [{ createdBefore: midway.toISOString() }, anas.slice(0, 4).reverse().map((o) => o.id)],
        [{ createdAfter: midway.toISOString() }, [...anas.slice(4), ...bens].reverse().map((o) => o.id)],
        [{ userId: 'ana', createdAfter: midway.toISOString() }, anas.slice(4).reverse().map((o) => o.id)],
        [{ userId: 'ana', status: 'WAIT_BUYER_PAY', createdBefore: midway.toISOString() }, anas.slice(1, 4).reverse().map((o) => o.id)],
        [{ userId: 'ben', status: 'TRADE_SUCCESS', orderNo: anas[0].orderNo }, []],
        [{ createdAfter: anas[0].createdAt, createdBefore: anas[2].createdAt }, [anas[1].id, anas[0].id]],
      ];
      for (const [filter, expected] of cases) {
        const res = await adminOrders({ filter, first: 2 });
        expect({ filter, errors: res.errors }).toEqual({ filter, errors: undefined });
        expect({ filter, page: ids(res) }).toEqual({ filter, page: expected.slice(0, 2) });
        expect({ filter, totalCount: res.data!.adminOrders.totalCount }).toEqual({ filter, totalCount: expected.length });
        expect({ filter, hasNextPage: res.data!.adminOrders.pageInfo.hasNextPage }).toEqual({ filter, hasNextPage: expected.length > 2 });
      }
    });

    it('pages through every matching order without repeating or skipping one, also orders created at the same instant', async () => {
      // Five orders of one user share one creation instant: only the id tells them apart in the keyset.
      const tied = '2026-03-01T08:00:00.000Z';
      for (let i = 0; i < 5; i++) {
        await query(server.db.url, `insert into users (id, created_at) values ('cy', now()) on conflict do nothing`);
        await query(
          server.db.url,
          `insert into orders (id, order_no, user_id, subject, amount, status, expires_at, created_at, updated_at)
           values ($1, $2, 'cy', 'tie', 1.00, 'TRADE_CLOSED', $3, $3, $3)`,
          [randomUUID(), `TIE${i}`, tied],
        );
      }
      for (const [filter, where] of [
        [{}, 'true'],
        [{ userId: 'cy' }, `user_id = 'cy'`],
        [{ status: 'TRADE_CLOSED' }, `status = 'TRADE_CLOSED'`],
        [{ createdBefore: '2026-03-01T08:00:00.001Z' }, `created_at < '2026-03-01T08:00:00.001Z'`],
      ] as const) {
        const expected = await ordersWhere(where);
        for (const first of [1, 2, 3]) {
          const { seen, totals } = await everyPage(ADMIN_ORDERS, { filter }, first);
          expect({ filter, first, seen }).toEqual({ filter, first, seen: expected });
          expect(new Set(totals)).toEqual(new Set([expected.length]));
        }
      }
    });

    it('counts only when totalCount is asked for: a page without it runs no count', async () => {
      const res = await adminOrders({ first: 1 });
      expect(res.errors).toBeUndefined();
      const orders = server.app.services.orders as unknown as { db: { query: (...a: unknown[]) => unknown } }; // the resolver's
      const spy = jest.spyOn(orders.db, 'query');
      try {
        await server.gql(`{ adminOrders(first: 1) { edges { node { id } } } }`, {}, admin);
        expect(spy.mock.calls.map((c) => String(c[0])).filter((sql) => sql.includes('count('))).toEqual([]);
        await server.gql(`{ adminOrders(first: 1) { totalCount } }`, {}, admin);
        expect(spy.mock.calls.map((c) => String(c[0])).filter((sql) => sql.includes('count('))).toHaveLength(1);
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('callbacks', () => {
    const callbacks = (variables: Record<string, unknown>) => server.gql(CALLBACKS, variables, admin);
    const logWhere = async (where: string, params: unknown[] = []) =>
      (await query<{ id: string }>(server.db.url, `select id::text as id from callback_logs where ${where} order by received_at desc, id desc`, params)).map((r) => r.id);

    it('lists the callbacks that named an order number: its notifies and its browser return, linked to the order', async () => {
      const res = await callbacks({ filter: { orderNo: anas[0].orderNo }, first: 100 });
      expect(res.errors).toBeUndefined();
      const nodes = res.data!.callbacks.edges.map((e: { node: Record<string, any> }) => e.node);
      expect(nodes.map((n: { id: string }) => n.id)).toEqual(await logWhere('out_trade_no = $1', [anas[0].orderNo]));
      expect(res.data!.callbacks.totalCount).toBe(nodes.length);
      expect(nodes.map((n: { kind: string }) => n.kind).sort()).toEqual(expect.arrayContaining(['NOTIFY', 'RETURN']));
      for (const n of nodes) expect(n).toMatchObject({ signatureValid: true, orderNo: anas[0].orderNo, order: { id: anas[0].id, orderNo: anas[0].orderNo } });
      expect(nodes).toContainEqual(expect.objectContaining({ kind: 'NOTIFY', verdict: 'APPLIED', tradeStatus: 'TRADE_SUCCESS' }));
      expect(nodes).toContainEqual(expect.objectContaining({ kind: 'RETURN', verdict: 'IGNORED' }));
    });

    it('filters by kind, by verdict and by the time received, with the totalCount of the filter', async () => {
      const cases: Array<[Record<string, unknown>, string, unknown[]]> = [
        [{ kind: 'RETURN' }, `kind = 'RETURN'`, []],
        [{ kind: 'NOTIFY' }, `kind = 'NOTIFY'`, []],
        [{ verdict: 'APPLIED' }, `verdict = 'APPLIED'`, []],
        [{ verdict: 'REJECTED' }, `verdict = 'REJECTED'`, []],
        [{ receivedAfter: beforeForgery.toISOString() }, 'received_at >= $1', [beforeForgery]],
        [{ receivedBefore: beforeForgery.toISOString() }, 'received_at < $1', [beforeForgery]],
        [{ kind: 'NOTIFY', verdict: 'APPLIED', orderNo: bens[0].orderNo }, `kind = 'NOTIFY' and verdict = 'APPLIED' and out_trade_no = $1`, [bens[0].orderNo]],
      ];
      for (const [filter, where, params] of cases) {
        const expected = await logWhere(where, params);
        expect({ filter, some: expected.length > 0 }).toEqual({ filter, some: true });
        const res = await callbacks({ filter, first: 100 });
        expect({ filter, errors: res.errors }).toEqual({ filter, errors: undefined });
        expect({ filter, page: ids(res), totalCount: res.data!.callbacks.totalCount }).toEqual({ filter, page: expected, totalCount: expected.length });
      }
      const returns = await callbacks({ filter: { kind: 'RETURN' }, first: 100 });
      expect(returns.data!.callbacks.edges.map((e: { node: { kind: string } }) => e.node.kind)).toEqual(['RETURN', 'RETURN']);
    });

    it('shows a forged notify as REJECTED and unverified, claiming the number it named but linked to no order', async () => {
      const res = await callbacks({ filter: { receivedAfter: beforeForgery.toISOString() } });
      expect(res.data!.callbacks.edges.map((e: { node: unknown }) => e.node)).toEqual([
        expect.objectContaining({ kind: 'NOTIFY', verdict: 'REJECTED', signatureValid: false, orderNo: anas[1].orderNo, notifyId: 'forged1', order: null }),
      ]);
      expect(res.data!.callbacks.edges[0].node.reason).toMatch(/signature/);
    });

    it('never shows a raw body or a sign: the type has no such field and no answer carries one', async () => {
      const signs = (await query<{ raw: Buffer }>(server.db.url, 'select raw from callback_logs'))
        .map((r) => new URLSearchParams(r.raw.toString('latin1')).get('sign'))
        .filter((s): s is string => !!s);
      expect(signs.length).toBeGreaterThan(3);
      const everything = JSON.stringify((await callbacks({ first: 100 })).data);
      expect(everything).toContain(anas[0].orderNo);
      for (const sign of signs) {
        expect(everything).not.toContain(sign);
        expect(everything).not.toContain(encodeURIComponent(sign));
      }
      expect(everything).not.toMatch(/sign=|"raw"|sign_type/);
      for (const field of ['raw', 'rawSha256', 'sign']) {
        const res = await server.gql(`{ callbacks { edges { node { ${field} } } } }`, {}, admin);
        expect(res.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      }
    });

    it('pages through the whole log without repeating or skipping a callback', async () => {
      const expected = await logWhere('true');
      for (const first of [1, 3]) {
        const { seen, totals } = await everyPage(CALLBACKS, {}, first);
        expect(seen).toEqual(expected);
        expect(new Set(totals)).toEqual(new Set([expected.length]));
      }
    });
  });

  describe('refunds', () => {
    const refunds = (variables: Record<string, unknown>) => server.gql(REFUNDS, variables, admin);
    const refundsWhere = async (where: string, params: unknown[] = []) =>
      (await query<{ id: string }>(server.db.url, `select r.id from refunds r join orders o on o.id = r.order_id where ${where} order by r.created_at desc, r.id desc`, params)).map((r) => r.id);

    it('lists every refund newest first, and filters by status and by order number', async () => {
      const cases: Array<[Record<string, unknown>, string, unknown[], number]> = [
        [{}, 'true', [], 3],
        [{ status: 'SUCCEEDED' }, `r.status = 'SUCCEEDED'`, [], 2],
        [{ status: 'FAILED' }, `r.status = 'FAILED'`, [], 1],
        [{ status: 'PENDING' }, `r.status = 'PENDING'`, [], 0],
        [{ orderNo: bens[0].orderNo }, 'o.order_no = $1', [bens[0].orderNo], 2],
        [{ orderNo: anas[0].orderNo, status: 'SUCCEEDED' }, `o.order_no = $1 and r.status = 'SUCCEEDED'`, [anas[0].orderNo], 1],
        [{ orderNo: anas[1].orderNo }, 'o.order_no = $1', [anas[1].orderNo], 0],
      ];
      for (const [filter, where, params, size] of cases) {
        const expected = await refundsWhere(where, params);
        expect({ filter, size: expected.length }).toEqual({ filter, size });
        const res = await refunds({ filter, first: 100 });
        expect({ filter, errors: res.errors }).toEqual({ filter, errors: undefined });
        expect({ filter, page: ids(res), totalCount: res.data!.refunds.totalCount }).toEqual({ filter, page: expected, totalCount: size });
      }
      const ofBen = await refunds({ filter: { orderNo: bens[0].orderNo } });
      for (const e of ofBen.data!.refunds.edges) expect(e.node.order).toEqual({ id: bens[0].id, orderNo: bens[0].orderNo });
      const { seen } = await everyPage(REFUNDS, {}, 1);
      expect(seen).toEqual(await refundsWhere('true'));
    });
  });

  describe('who may ask', () => {
    const lists = [
      ['adminOrders', `{ adminOrders { totalCount edges { node { id } } } }`],
      ['callbacks', `{ callbacks { totalCount edges { node { id } } } }`],
      ['refunds', `{ refunds { totalCount edges { node { id } } } }`],
    ] as const;

    it('denies the admin lists to a signed-in non-admin exactly as it denies paymentExceptions', async () => {
      const reference = await server.gql(`{ paymentExceptions { edges { node { id } } } }`, {}, ana);
      expect(reference.errors![0].extensions).toEqual({ code: 'FORBIDDEN' });
      for (const [field, q] of lists) {
        for (const token of [ana, eve]) {
          const res = await server.gql(q, {}, token);
          expect({ field, data: res.data, error: { message: res.errors![0].message, extensions: res.errors![0].extensions } }).toEqual({
            field,
            data: null,
            error: { message: reference.errors![0].message, extensions: reference.errors![0].extensions },
          });
        }
      }
    });

    it('denies them without a token as UNAUTHENTICATED', async () => {
      for (const [, q] of lists) expect((await server.gql(q)).errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    });

    it('costs the new lists like every list: a fan-out below a page of 100 is refused before it runs', async () => {
      const fanOut = {
        adminOrders: `{ adminOrders(first: 100) { edges { node { refunds { order { refunds { id amount status } } } } } } }`,
        callbacks: `{ callbacks(first: 100) { edges { node { order { refunds { order { refunds { id amount } } } } } } } }`,
        refunds: `{ refunds(first: 100) { edges { node { order { refunds { order { refunds { id } } } } } } } }`,
      };
      for (const q of Object.values(fanOut)) {
        const res = await server.gql(q, {}, admin);
        expect(res.errors![0].extensions!.code).toBe('QUERY_TOO_COSTLY');
      }
      for (const [, q] of lists) expect((await server.gql(q.replace(/^\{ (\w+)/, '{ $1(first: 100)'), {}, admin)).errors).toBeUndefined();
    });
  });

  describe('hostile filters', () => {
    it('refuses bad enums, inverted ranges, over-long or control-character text and foreign cursors as BAD_USER_INPUT, changing nothing', async () => {
      const before = await counts();
      const ordersCursor = encodeCursor({ createdAt: new Date(), id: randomUUID() });
      const callbackCursor = encodeCursor({ createdAt: new Date(), id: '12' });
      const cases: Array<[string, Record<string, unknown>, string]> = [
        [ADMIN_ORDERS, { filter: { status: 'PAID' } }, ''],
        [ADMIN_ORDERS, { filter: { createdAfter: '2026-02-01T00:00:00Z', createdBefore: '2026-01-01T00:00:00Z' } }, 'createdAfter'],
        [ADMIN_ORDERS, { filter: { createdAfter: '2026-01-01T00:00:00Z', createdBefore: '2026-01-01T00:00:00Z' } }, 'createdAfter'],
        [ADMIN_ORDERS, { filter: { createdAfter: 'yesterday' } }, ''],
        [ADMIN_ORDERS, { filter: { orderNo: 'N'.repeat(65) } }, 'orderNo'],
        [ADMIN_ORDERS, { filter: { orderNo: 'N'.repeat(100_000) } }, 'orderNo'],
        [ADMIN_ORDERS, { filter: { orderNo: 'N1\u0000' } }, 'orderNo'],
        [ADMIN_ORDERS, { filter: { orderNo: 'N1\u202e' } }, 'orderNo'],
        [ADMIN_ORDERS, { filter: { orderNo: '' } }, 'orderNo'],
        [ADMIN_ORDERS, { filter: { userId: 'ana\nbob' } }, 'userId'],
        [ADMIN_ORDERS, { after: callbackCursor }, 'after'],
        [ADMIN_ORDERS, { first: 101 }, 'first'],
        [CALLBACKS, { filter: { kind: 'PUSH' } }, ''],
        [CALLBACKS, { filter: { verdict: 'OK' } }, ''],
        [CALLBACKS, { filter: { receivedAfter: '2026-02-01T00:00:00Z', receivedBefore: '2026-01-01T00:00:00Z' } }, 'receivedAfter'],
        [CALLBACKS, { filter: { orderNo: "1' or '1'='1".repeat(10) } }, 'orderNo'],
        [CALLBACKS, { filter: { orderNo: '\u0007' } }, 'orderNo'],
        [CALLBACKS, { after: ordersCursor }, 'after'],
        [CALLBACKS, { first: 0 }, 'first'],
        [REFUNDS, { filter: { status: 'DONE' } }, ''],
        [REFUNDS, { filter: { orderNo: 'x'.repeat(65) } }, 'orderNo'],
        [REFUNDS, { filter: { orderNo: '\ud800' } }, 'orderNo'],
        [REFUNDS, { after: '!!!' }, 'after'],
      ];
      for (const [q, variables, field] of cases) {
        const res = await server.gql(q, variables, admin);
        const error = res.errors?.[0];
        expect({ variables: JSON.stringify(variables).slice(0, 200), code: error?.extensions?.code, data: res.data }).toEqual({
          variables: JSON.stringify(variables).slice(0, 200),
          code: 'BAD_USER_INPUT',
          data: null,
        });
        if (field) expect(error!.extensions!.field).toBe(field);
        // GraphQL itself refuses a value its enum or date-time scalar does not know, and says which.
        else expect(error!.message).toMatch(/does not exist in "(OrderStatus|CallbackKind|CallbackVerdict|RefundStatus)" enum|DateTime cannot represent an invalid date-time-string/);
        if (field === 'createdAfter' || field === 'receivedAfter') expect(error!.message).toMatch(/must be earlier than/);
      }
      // An enum written into the query itself is refused by validation, before anything runs.
      const inline = await server.gql(`{ adminOrders(filter: { status: PAID }) { totalCount } }`, {}, admin);
      expect(inline.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(await counts()).toEqual(before);
      expect(server.logs.filter((l) => l.includes('unexpected GraphQL error'))).toEqual([]);
    });
  });
});
