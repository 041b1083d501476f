import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Client, type Pool } from 'pg';
import { Money } from '../../src/common/money';
import { initOrm } from '../../src/db/orm';
import { createPool, inEntityManager } from '../../src/db/sql';
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
    pool = createPool(db.url, 4);
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
    await orm.em.fork().transactional(async (tx) => {
      const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const result = await transition(inEntityManager(tx), locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'T1' });
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
    await orm.em.fork().transactional(async (tx) => {
      const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      expect((await transition(inEntityManager(tx), locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'TU' })).outcome).toBe('APPLIED');
    });
    await settle();
    expect(announced).not.toContain(order.id);
  });

  it('leaves no trace and announces nothing when the transaction rolls back', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('3.00'), subject: 'rollback' });
    await watch(order.id);
    await expect(
      orm.em.fork().transactional(async (tx) => {
        const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
        await transition(inEntityManager(tx), locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.SYNC, tradeNo: 'T2' });
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
        orm.em.fork().transactional(async (tx) => {
          const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
          return (await transition(inEntityManager(tx), locked, OrderStatus.TRADE_SUCCESS, { source: EventSource.NOTIFY, tradeNo: 'T3' })).outcome;
        }),
      ),
    );
    expect(outcomes.sort()).toEqual(['APPLIED', ...Array(9).fill('REPEATED')]);
    expect(await orm.em.fork().count(OrderEvent, { order: order.id, type: 'STATUS_CHANGED' as never })).toBe(1);
  });

  it('records a refused move as a history row and leaves the status alone', async () => {
    const order = await orders.createOrder(ctx(), { amount: Money.parse('5.00'), subject: 'refuse' });
    const outcome = await orm.em.fork().transactional(async (tx) => {
      const locked = await tx.findOneOrFail(Order, { id: order.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      await transition(inEntityManager(tx), locked, OrderStatus.TRADE_CLOSED, { source: EventSource.JOB });
      const closed = await tx.findOneOrFail(Order, { id: order.id }, { refresh: true });
      return transition(inEntityManager(tx), closed, OrderStatus.TRADE_SUCCESS, { source: EventSource.NOTIFY, tradeNo: 'late' });
    });
    expect(outcome).toMatchObject({ outcome: 'REFUSED' });
    const saved = await orm.em.fork().findOneOrFail(Order, { id: order.id });
    expect(saved.status).toBe(OrderStatus.TRADE_CLOSED);
    expect(saved.tradeNo).toBeNull();
    expect(await orm.em.fork().count(OrderEvent, { order: order.id, type: 'TRANSITION_REFUSED' as never })).toBe(1);
  });

  it('gives a user only their own orders, whatever id they name', async () => {
    const mine = await orders.createOrder(ctx(), { amount: Money.parse('6.00'), subject: 'mine' });
    const stranger = { user: { id: 'jack', roles: [], isAdmin: false }, em: orm.em.fork() };
    await expect(orders.findOwned(stranger, mine.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(orders.findOwned(stranger, randomUUID())).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(orders.findOwned(ctx(), mine.id)).resolves.toMatchObject({ id: mine.id });
  });
});
