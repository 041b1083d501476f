import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount subject } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id } }`;

describe('GraphQL arguments that must be refused with a clear error and change nothing', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token('dave');
  });
  afterAll(async () => {
    await server?.close();
  });

  const orderCount = async () => Number((await query<{ n: string }>(server.db.url, 'select count(*)::text as n from orders'))[0].n);

  it.each(['1.234', '0', '0.00', '-1.00', '1e2', ' 1.00', 'abc', '100000000.01', '1', '', '1.00\n'])(
    'refuses the amount %j as BAD_USER_INPUT and creates nothing',
    async (amount) => {
      const before = await orderCount();
      const res = await server.gql(CREATE, { input: { amount, subject: 'x' } }, token);
      expect(res.data).toBeNull();
      expect(res.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
      expect(res.errors![0].message).toMatch(/amount/);
      expect(await orderCount()).toBe(before);
    },
  );

  it.each([1.5, 2, true, null])('refuses the non-string amount %j', async (amount) => {
    const res = await server.gql(CREATE, { input: { amount, subject: 'x' } }, token);
    expect(res.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('refuses a malformed amount written inline in the query, with BAD_USER_INPUT too', async () => {
    for (const literal of ['"1.234"', '1.5', '100']) {
      const res = await server.gql(`mutation { createOrder(input: { amount: ${literal}, subject: "x" }) { id } }`, {}, token);
      expect(res.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    }
  });

  it('accepts the boundaries 0.01 and 100000000.00 exactly', async () => {
    for (const amount of ['0.01', '100000000.00']) {
      const res = await server.gql(CREATE, { input: { amount, subject: 'edge' } }, token);
      expect(res.data!.createOrder.amount).toBe(amount);
    }
  });

  it.each([
    ['', 'subject must not be empty'],
    ['   ', 'subject must not be only spaces'],
    ['a'.repeat(257), 'subject must be at most 256 characters'],
    ['tab\there', 'subject must not contain control characters or line breaks'],
    ['\ud83d', 'subject must be valid Unicode text'],
    ['NUL\u0000inside', 'subject must not contain control characters or line breaks'],
    ['\u0085next line', 'subject must not contain control characters or line breaks'],
    ['\ufeffbom first', 'subject must not contain invisible format characters (found U+FEFF)'],
    ['zero\u200bwidth', 'subject must not contain invisible format characters (found U+200B)'],
    ['right-to-left \u202eoverride', 'subject must not contain invisible format characters (found U+202E)'],
    ['soft\u00adhyphen', 'subject must not contain invisible format characters (found U+00AD)'],
  ])('refuses the subject %j', async (subject, message) => {
    const before = await orderCount();
    const res = await server.gql(CREATE, { input: { amount: '1.00', subject } }, token);
    expect(res.errors![0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', field: 'subject' } });
    expect(await orderCount()).toBe(before);
  });

  it.each([
    ['bom\ufeff', 'body must not contain invisible format characters (found U+FEFF)'],
    ['word\u2060joiner', 'body must not contain invisible format characters (found U+2060)'],
    ['line\u2028separator', 'body must not contain control characters or line breaks'],
  ])('refuses the body %j, naming the field', async (body, message) => {
    const before = await orderCount();
    const res = await server.gql(CREATE, { input: { amount: '1.00', subject: 'ok', body } }, token);
    expect(res.errors![0]).toMatchObject({ message, extensions: { code: 'BAD_USER_INPUT', field: 'body' } });
    expect(await orderCount()).toBe(before);
  });

  it('accepts emoji joined by U+200D (zero-width joiner), which emoji sequences need', async () => {
    const subject = 'family 👨\u200d👩\u200d👧';
    const res = await server.gql(CREATE, { input: { amount: '1.00', subject } }, token);
    expect(res.data!.createOrder.subject).toBe(subject);
  });

  it('accepts a 256-character subject of Chinese and emoji, counted as characters', async () => {
    const subject = '茶😀'.repeat(128);
    const res = await server.gql(CREATE, { input: { amount: '1.00', subject } }, token);
    expect(res.data!.createOrder.subject).toBe(subject);
  });

  it('refuses an oversized subject of a megabyte with 413 before any work', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: CREATE, variables: { input: { amount: '1.00', subject: 'x'.repeat(1024 * 1024) } } }),
    });
    expect(res.status).toBe(413);
  });

  it('refuses a body over 128 characters and a malformed idempotency key', async () => {
    const body = await server.gql(CREATE, { input: { amount: '1.00', subject: 'x', body: 'b'.repeat(129) } }, token);
    expect(body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'body' });
    for (const key of ['', 'has space', 'k'.repeat(65), '键']) {
      const res = await server.gql(CREATE, { input: { amount: '1.00', subject: 'x', idempotencyKey: key } }, token);
      expect(res.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'idempotencyKey' });
    }
  });

  it('answers NOT_FOUND for unknown, malformed and hostile order ids', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', "1' or '1'='1", 'x'.repeat(10_000)]) {
      for (const q of [ORDER, PAY_LINK]) {
        const res = await server.gql(q, { id }, token);
        expect(res.errors![0].extensions!.code).toBe('NOT_FOUND');
      }
    }
  });

  it('refuses page sizes outside 1–100 and cursors this API did not issue', async () => {
    const LIST = `query($first: Int, $after: String) { orders(first: $first, after: $after) { edges { cursor } } }`;
    for (const first of [0, -1, 101, 2 ** 31 - 1]) {
      const res = await server.gql(LIST, { first }, token);
      expect(res.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    }
    const forged = Buffer.from('not-a-date|00000000-0000-0000-0000-000000000000').toString('base64url');
    for (const after of ['!!!', 'x'.repeat(500), forged, Buffer.from('2026-01-01T00:00:00.000Z|x').toString('base64url')]) {
      const res = await server.gql(LIST, { after }, token);
      expect(res.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
  });

  it('answers malformed JSON with 400 and an unknown field with a validation error', async () => {
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(res.status).toBe(400);
    const unknown = await server.gql('{ orders { nope } }', {}, token);
    expect(unknown.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('never lets SQL or a stack trace reach the client', async () => {
    const res = await server.gql(ORDER, { id: "'; drop table orders; --" }, token);
    const text = JSON.stringify(res);
    expect(text).not.toMatch(/select|stack|node_modules/i);
    expect(await orderCount()).toBeGreaterThan(0);
  });
});
