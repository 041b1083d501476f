import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Client, type Pool } from 'pg';
import { Money } from '../../src/common/money';
import { initOrm } from '../../src/db/orm';
import { createPool, inTransaction } from '../../src/db/sql';
import { lockOrder } from '../../src/orders/order.row';
import { Order } from '../../src/orders/order.entity';
import { OrderEvent } from '../../src/orders/order-event.entity';
import { OrderService } from '../../src/orders/order.service';
import { ORDER_STATUS_CHANNEL, transition } from '../../src/orders/order.state';
import { EventSource, OrderStatus } from '../../src/orders/order.types';
import { createTestDatabase, type TestDatabase } from '../support/db';

describe('the transition function on PostgreSQL', () => {
  let db: TestDatabase;
  let orm: MikroORM;
  let listener: Client;
  let pool: Pool;
  let orders: OrderService;
  const announced: string[] = [];
  const ctx = () => ({ user: { id: 'ivy', roles: [], isAdmin: false }, em: orm.em.fork() });

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await initOrm(db.url, 4);
    pool = createPool(db.url, 4, (err) => { throw err; });
    orders = new OrderService(pool, { orderTtlMs: 15 * 60_000 });
    listener = new Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (m) => announced.push(m.payload ?? ''));
    await listener.query(`LISTEN ${ORDER_STATUS_CHANNEL}`);
  });
  afterAll(async () => {
    await listener?.end();
    await pool?.end();
    await orm?.close();
    await db?.drop();
  });

  const settle = () => new Promise((r) => setTimeout(r, 150));

  const watch = (orderId: string) =>
    orm.em.fork().getConnection().execute('insert into order_watchers (order_id, instance_id, since) values (?, ?, now())', [orderId, 'test-instance']);

  it('writes the status, the facts and one history row, and announces the change only when it commits', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('2.00'), subject: 'tx' });
    await watch(order.id);
    await inTransaction(pool, async (tx) => {
      const locked = (await lockOrder(tx, { id: order.id }))!;
      const result = await transition(tx, locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'T1' });
      expect(result).toEqual({ outcome: 'APPLIED', from: OrderStatus.WAIT_BUYER_PAY, to: OrderStatus.TRADE_SUCCESS });
      await settle();
      expect(announced).not.toContain(order.id);
    });
    await settle();
    expect(announced).toContain(order.id);
    const saved = await orm.em.fork().findOneOrFail(Order, { id: order.id });
    expect(saved).toMatchObject({ status: OrderStatus.TRADE_SUCCESS, tradeNo: 'T1' });
    expect(saved.paidAt).toBeInstanceOf(Date);
    const history = await orm.em.fork().find(OrderEvent, { order: order.id }, { orderBy: { id: 'asc' } });
    expect(history.map((e) => `${e.type}:${e.fromStatus ?? ''}>${e.toStatus}`)).toEqual(['CREATED:>WAIT_BUYER_PAY', 'STATUS_CHANGED:WAIT_BUYER_PAY>TRADE_SUCCESS']);
  });

  it('does not announce a change of an order that no subscription watches', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('2.50'), subject: 'unwatched' });
    await inTransaction(pool, async (tx) => {
      const locked = (await lockOrder(tx, { id: order.id }))!;
      expect((await transition(tx, locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'TU' })).outcome).toBe('APPLIED');
    });
    await settle();
    expect(announced).not.toContain(order.id);
  });

  it('leaves no trace and announces nothing when the transaction rolls back', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('3.00'), subject: 'rollback' });
    await watch(order.id);
    await expect(
      inTransaction(pool, async (tx) => {
        const locked = (await lockOrder(tx, { id: order.id }))!;
        await transition(tx, locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'T2' });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await settle();
    expect(announced).not.toContain(order.id);
    expect((await orm.em.fork().findOneOrFail(Order, { id: order.id })).status).toBe(OrderStatus.WAIT_BUYER_PAY);
    expect(await orm.em.fork().count(OrderEvent, { order: order.id })).toBe(1);
  });

  it('serializes concurrent transitions on the row lock: ten racers, one change', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('4.00'), subject: 'race' });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        inTransaction(pool, async (tx) => {
          const locked = (await lockOrder(tx, { id: order.id }))!;
          return (await transition(tx, locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.NOTIFY, tradeNo: 'T3' })).outcome;
        }),
      ),
    );
    expect(outcomes.sort()).toEqual(['APPLIED', ...Array(9).fill('REPEATED')]);
    expect(await orm.em.fork().count(OrderEvent, { order: order.id, type: 'STATUS_CHANGED' as never })).toBe(1);
  });

  it('records a refused move as a history row and leaves the status alone', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('5.00'), subject: 'refuse' });
    const outcome = await inTransaction(pool, async (tx) => {
      const locked = (await lockOrder(tx, { id: order.id }))!;
      await transition(tx, locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.NOTIFY, tradeNo: 'T5' });
      const paid = (await lockOrder(tx, { id: order.id }))!;
      return transition(tx, paid, OrderStatus.TRADE_CLOSED, { source: EventSource.NOTIFY, tradeNo: 'T5' });
    });
    expect(outcome).toMatchObject({ outcome: 'REFUSED', reason: 'a paid order closes only when it is refunded in full' });
    const saved = await orm.em.fork().findOneOrFail(Order, { id: order.id });
    expect(saved.status).toBe(OrderStatus.TRADE_SUCCESS);
    expect(await orm.em.fork().count(OrderEvent, { order: order.id, type: 'TRANSITION_REFUSED' as never })).toBe(1);
  });

  it('returns a payment after close as an exception for the caller to record, and writes nothing itself', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('5.50'), subject: 'late payment' });
    const outcome = await inTransaction(pool, async (tx) => {
      const locked = (await lockOrder(tx, { id: order.id }))!;
      await transition(tx, locked, OrderStatus.TRADE_CLOSED, { source: EventSource.JOB });
      const closed = (await lockOrder(tx, { id: order.id }))!;
      return transition(tx, closed, OrderStatus.TRADE_SUCCESS, { source: EventSource.NOTIFY, tradeNo: 'late' });
    });
    expect(outcome).toMatchObject({ outcome: 'EXCEPTION', kind: 'PAID_AFTER_CLOSE' });
    const saved = await orm.em.fork().findOneOrFail(Order, { id: order.id });
    expect(saved.status).toBe(OrderStatus.TRADE_CLOSED);
    expect(saved.tradeNo).toBeNull();
    expect(await orm.em.fork().count(OrderEvent, { order: order.id, type: 'TRANSITION_REFUSED' as never })).toBe(0);
  });

  it('locks an order by id or by order number and returns the same plain row, and nothing for unknown keys', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('7.00'), subject: 'lock' });
    const [byId, byNo, unknown, malformed] = await inTransaction(pool, async (tx) => [
      await lockOrder(tx, { id: order.id }),
      await lockOrder(tx, { orderNo: order.orderNo }),
      await lockOrder(tx, { orderNo: 'nope' }),
      await lockOrder(tx, { id: 'not-a-uuid' }),
    ]);
    expect(byId).toEqual(byNo);
    expect(byId).toMatchObject({ id: order.id, orderNo: order.orderNo, userId: 'ivy', status: OrderStatus.WAIT_BUYER_PAY });
    expect(Object.getPrototypeOf(byId)).toBe(Object.prototype);
    expect(unknown).toBeNull();
    expect(malformed).toBeNull();
  });

  it('gives a user only their own orders, whatever id they name', async () => {
    const mine = await orders.createOrder(ctx(), { amount: Money.parse('6.00'), subject: 'mine' });
    const stranger = { user: { id: 'jack', roles: [], isAdmin: false }, em: orm.em.fork() };
    await expect(orders.findOwned(stranger, mine.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(orders.findOwned(stranger, randomUUID())).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(orders.findOwned(ctx(), mine.id)).resolves.toMatchObject({ id: mine.id });
  });
});
