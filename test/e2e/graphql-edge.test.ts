import fs from 'node:fs';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { sqlStatementCount } from '../../src/db/sql';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

/**
 * The GraphQL edge against hostile clients, on HTTP and graphql-ws alike: document limits, the introspection
 * policy, hidden suggestions, the socket's token and its subscription caps.
 */
const INTROSPECT = '{ __schema { queryType { name } } }';

function ws(server: TestServer, token: string | null): Client {
  return createClient({
    url: `${server.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
  });
}

/** The next result of a subscription; a refusal (graphql-ws's Error message, thrown as an array) as `{ errors }`. */
async function nextOf(iterator: AsyncIterator<any>): Promise<any> {
  try {
    return (await iterator.next()).value;
  } catch (err) {
    if (Array.isArray(err)) return { errors: err };
    throw err;
  }
}

/** The first result (or the close) of one operation over a socket. */
async function wsOnce(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const iterator = client.iterate({ query, variables });
  try {
    return await nextOf(iterator);
  } finally {
    await iterator.return?.();
  }
}

const deep = (levels: number) => {
  let selection = 'id';
  for (let i = 0; i < levels; i++) selection = `refunds { order { ${selection} } }`;
  return `query($id: ID!) { order(id: $id) { ${selection} } }`;
};

describe('the GraphQL edge in production', () => {
  let server: TestServer;
  let token: string;
  const sockets: Client[] = [];

  beforeAll(async () => {
    server = await startTestServer({ NODE_ENV: 'production', ALIPAY_GATEWAY: 'sandbox', SANDBOX_IN_PRODUCTION: 'true', SANDBOX_CONTROL_TOKEN: 'control-token-0123456789abcdef-0123456789', JWT_SECRET: 'edge-secret-0123456789abcdef-0123456789', GRAPHQL_MAX_SUBSCRIPTIONS: '3' });
    token = await server.token('hostile');
  });
  afterAll(async () => {
    for (const s of sockets) await s.dispose();
    await server?.close();
  });
  const socket = (t: string | null = token) => {
    const s = ws(server, t);
    sockets.push(s);
    return s;
  };
  const post = async (query: string, variables: Record<string, unknown> = {}, auth: string | null = token) => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } };
  };

  const hostile: Array<[string, () => string, string, number]> = [
    ['a query nested 12 deep', () => deep(6), 'QUERY_TOO_DEEP', 8],
    ['20 aliases of me', () => `{ ${Array.from({ length: 20 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, 'TOO_MANY_ALIASES', 15],
    ['1,000 aliases (stopped by the token limit first)', () => `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: me { id }`).join(' ')} }`, 'TOO_MANY_TOKENS', 2000],
    ['60 directives', () => `{ me { id ${Array.from({ length: 60 }, () => '@include(if: true)').join(' ')} } }`, 'TOO_MANY_DIRECTIVES', 50],
    ['a 2,500-token document', () => `{ me { ${Array.from({ length: 2500 }, () => 'id').join(' ')} } }`, 'TOO_MANY_TOKENS', 2000],
    [
      'a fragment fan-out over orders, events and refunds',
      () =>
        `fragment O on Order { events { id note } refunds { id order { id } } }
         { a: orders(first: 100) { edges { node { ...O } } } b: orders(first: 100) { edges { node { ...O } } } }`,
      'QUERY_TOO_COSTLY',
      5000,
    ],
  ];

  it.each(hostile)('refuses %s over HTTP with a 400, a stable code and the limit', async (_label, document, code, limit) => {
    const res = await post(document(), { id: '00000000-0000-4000-8000-000000000000' });
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors![0].extensions).toMatchObject({ code, limit });
  });

  it.each(hostile)('refuses %s over graphql-ws the same way', async (_label, document, code, limit) => {
    const result = await wsOnce(socket(), document(), { id: '00000000-0000-4000-8000-000000000000' });
    expect(result.errors[0].extensions).toMatchObject({ code, limit });
  });

  it('accepts an ordinary page of orders with their events and refunds', async () => {
    const res = await post('{ orders(first: 100) { edges { node { id events { id } refunds { id } } } } }');
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });

  it('lets a signed-in tool introspect production, and nobody anonymous, on both transports', async () => {
    expect((await post(INTROSPECT)).body.data.__schema.queryType.name).toBe('Query');
    const anonymous = await post(INTROSPECT, {}, null);
    expect(anonymous.body.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    expect(anonymous.body.errors![0].message).toContain('GRAPHQL_INTROSPECTION');
    expect((await wsOnce(socket(), INTROSPECT)).data.__schema.queryType.name).toBe('Query');
  });

  it('serves the committed SDL at /graphql/schema.graphql to signed-in tools only, as codegen fetches it', async () => {
    const committed = fs.readFileSync(path.join(__dirname, '../../schema.graphql'), 'utf8');
    const anonymous = await fetch(`${server.url}/graphql/schema.graphql`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('type Query');
    const signed = await fetch(`${server.url}/graphql/schema.graphql`, { headers: { authorization: `Bearer ${token}` } });
    expect(signed.status).toBe(200);
    expect(await signed.text()).toBe(committed);
  });

  it('hides field suggestions in production', async () => {
    const res = await post('{ ordr(id: "x") { id } }');
    expect(res.status).toBe(400);
    expect(res.body.errors![0].message).toMatch(/Cannot query field "ordr"/);
    expect(res.body.errors![0].message).not.toMatch(/Did you mean/);
    const viaWs = await wsOnce(socket(), '{ ordr(id: "x") { id } }');
    expect(viaWs.errors[0]).toMatchObject({ message: expect.stringMatching(/Cannot query field "ordr"/), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(viaWs.errors[0].message).not.toMatch(/Did you mean/);
    expect(await wsOnce(socket(), '{ me { id ')).toMatchObject({ errors: [{ extensions: { code: 'GRAPHQL_PARSE_FAILED' } }] });
  });

  it.each([
    ['no token', null],
    ['a forged token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'],
    ['garbage', 'not a token'],
  ])('closes a socket with %s with 4401 before any operation runs', async (_label, t) => {
    await expect(wsOnce(socket(t), INTROSPECT)).rejects.toMatchObject({ code: 4401 });
  });

  it('closes the socket when its token expires', async () => {
    const shortLived = await server.token('brief', [], { expiresIn: '2s' });
    const s = socket(shortLived);
    const order = (await post('mutation { createOrder(input: { amount: "1.00", subject: "watch" }) { id } }', {}, shortLived)).body.data.createOrder;
    const iterator = s.iterate({ query: 'subscription($id: ID!) { orderStatusChanged(orderId: $id) { status } }', variables: { id: order.id } });
    expect((await iterator.next()).value.data.orderStatusChanged.status).toBe('WAIT_BUYER_PAY');
    const started = Date.now();
    await expect(iterator.next()).rejects.toMatchObject({ code: 4401 });
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('holds at most GRAPHQL_MAX_SUBSCRIPTIONS live subscriptions per socket and per user', async () => {
    const user = await server.token('many-subs');
    const order = (await post('mutation { createOrder(input: { amount: "1.00", subject: "subs" }) { id } }', {}, user)).body.data.createOrder;
    const SUB = { query: 'subscription($id: ID!) { orderStatusChanged(orderId: $id) { status } }', variables: { id: order.id } };
    const first = socket(user);
    const live = [0, 1, 2].map(() => first.iterate(SUB));
    for (const it of live) expect((await it.next()).value.data.orderStatusChanged.status).toBe('WAIT_BUYER_PAY');
    const fourth = await nextOf(first.iterate(SUB));
    expect(fourth.errors[0].extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 3 });
    // Another socket of the same user is refused too: the cap is per user as well.
    const second = await nextOf(socket(user).iterate(SUB));
    expect(second.errors[0].extensions).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS' });
    // Ending one frees a place.
    await live[0].return?.();
    await new Promise((r) => setTimeout(r, 100));
    expect((await socket(user).iterate(SUB).next()).value.data.orderStatusChanged.status).toBe('WAIT_BUYER_PAY');
  });
});

describe('the introspection policy', () => {
  it.each([
    ['public (the development default) for anyone', {}, null, 'data'],
    ['off for everyone', { GRAPHQL_INTROSPECTION: 'off' }, 'signed-in', 'FORBIDDEN'],
  ])('is %s', async (_label, env, who, expected) => {
    const server = await startTestServer(env as Record<string, string>);
    try {
      const token = who ? await server.token('tool') : null;
      const res = await server.gql(INTROSPECT, {}, token);
      if (expected === 'data') expect(res.data!.__schema.queryType.name).toBe('Query');
      else expect(res.errors![0].extensions!.code).toBe(expected);
      // graphql-ws follows the same policy (a socket needs a token to open at all).
      const client = ws(server, await server.token('tool'));
      try {
        const viaWs = await wsOnce(client, INTROSPECT);
        if (expected === 'data') expect(viaWs.data.__schema.queryType.name).toBe('Query');
        else expect(viaWs.errors[0].extensions.code).toBe(expected);
      } finally {
        await client.dispose();
      }
      const sdl = await fetch(`${server.url}/graphql/schema.graphql`);
      expect(sdl.status).toBe(expected === 'data' ? 200 : 403);
      // Suggestions stay on outside production: they help developers.
      expect((await server.gql('{ ordr { id } }', {}, await server.token('dev'))).errors![0].message).toMatch(/Did you mean "order"/);
    } finally {
      await server.close();
    }
  });
});

describe('no N+1', () => {
  it('reads a page of orders with their events and refunds in the same number of statements for 5 orders or 60', async () => {
    const server = await startTestServer({ GRAPHQL_MAX_COST: '20000' }); // refunds { order } on 60 orders costs more than the default
    try {
      const token = await server.token('pager');
      for (let i = 0; i < 60; i++) {
        await server.gql('mutation($i: String!) { createOrder(input: { amount: "1.00", subject: $i }) { id } }', { i: `page ${i}` }, token);
      }
      // A refund on every order, so Refund.order is read for each too.
      await query(
        server.db.url,
        `insert into refunds (id, order_id, out_request_no, amount, status, requested_by, created_at, updated_at)
         select gen_random_uuid(), id, order_no || 'R', 0.5, 'SUCCEEDED', 'ops', now(), now() from orders where user_id = 'pager'`,
      );
      const PAGE = `query($first: Int) { orders(first: $first) { edges { node { id events { id } refunds { id order { id } } } } } }`;
      const statementsFor = async (first: number) => {
        const before = sqlStatementCount();
        const res = await server.gql(PAGE, { first }, token);
        expect(res.errors).toBeUndefined();
        expect(res.data!.orders.edges).toHaveLength(first);
        expect(res.data!.orders.edges.every((e: any) => e.node.refunds.length === 1 && e.node.refunds[0].order.id === e.node.id && e.node.events.length > 0)).toBe(true);
        return sqlStatementCount() - before;
      };
      const small = await statementsFor(5);
      const large = await statementsFor(60);
      expect(large).toBe(small);
      expect(large).toBeLessThanOrEqual(5);
    } finally {
      await server.close();
    }
  });
});
