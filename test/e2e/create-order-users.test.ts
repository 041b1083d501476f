import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }`;

describe('createOrder and the caller’s user row', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates the user row with the first order, and skips the upsert once the process knows the user', async () => {
    const token = await server.token('first-time-buyer');
    const first = await server.gql(CREATE, { input: { amount: '1.00', subject: 'first' } }, token);
    expect(first.errors).toBeUndefined();
    expect(await query(server.db.url, `select id from users where id = 'first-time-buyer'`)).toEqual([{ id: 'first-time-buyer' }]);
    const second = await server.gql(CREATE, { input: { amount: '1.00', subject: 'second' } }, token);
    expect(second.errors).toBeUndefined();
    expect(await query(server.db.url, `select count(*)::int as n from orders where user_id = 'first-time-buyer'`)).toEqual([{ n: 2 }]);
  });

  it('still takes the order when a user row the process remembered was deleted by hand (a restored backup)', async () => {
    const token = await server.token('restored-buyer');
    expect((await server.gql(CREATE, { input: { amount: '1.00', subject: 'before' } }, token)).errors).toBeUndefined();
    await query(server.db.url, `delete from order_events where order_id in (select id from orders where user_id = 'restored-buyer')`);
    await query(server.db.url, `delete from orders where user_id = 'restored-buyer'`);
    await query(server.db.url, `delete from users where id = 'restored-buyer'`);
    const again = await server.gql(CREATE, { input: { amount: '1.00', subject: 'after' } }, token);
    expect(again.errors).toBeUndefined();
    expect(await query(server.db.url, `select id from users where id = 'restored-buyer'`)).toEqual([{ id: 'restored-buyer' }]);
  });
});
