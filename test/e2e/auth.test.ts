import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK } from 'jose';
import { SignJWT } from 'jose';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { newTradeNo, signedNotifyBody } from '../../src/sandbox/sandbox.callbacks';
import { query } from '../support/db';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo amount } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id status } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`;
const LIST = `{ orders { edges { node { id } } } }`;

describe('who may do what', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const secret = new TextEncoder().encode('test-secret-0123456789abcdef-0123456789');

  it('answers UNAUTHENTICATED to every operation without a token, and changes nothing', async () => {
    const before = await query(server.db.url, 'select id from orders');
    for (const [q, v] of [
      ['{ me { id } }', {}],
      [LIST, {}],
      [ORDER, { id: '00000000-0000-0000-0000-000000000000' }],
      [CREATE, { input: { amount: '1.00', subject: 'x' } }],
      [PAY_LINK, { id: '00000000-0000-0000-0000-000000000000' }],
    ] as const) {
      const res = await server.gql(q, v);
      expect(res.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    }
    expect(await query(server.db.url, 'select id from orders')).toEqual(before);
  });

  it.each([
    ['an expired token', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret), 'Token has expired'],
    ['a token signed with another secret', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-0123456789abcdef-xyz')), 'Token signature is invalid'],
    ['an unsigned alg=none token', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"admin","roles":["admin"]}').toString('base64url')}.`, 'Token'],
    ['a token without exp', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').sign(secret), 'Token has no exp claim'],
    ['a token without sub', async () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret), 'Token has no usable sub claim'],
    ['a token whose sub is an object', async () => new SignJWT({ sub: { id: 1 } as unknown as string }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret), 'Token'],
    ['garbage', async () => 'abc.def.ghi', 'Token is'],
    ['a token with base64 padding', async () => `${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(secret)}=`, 'Token is not a compact JWT'],
    ['a 10 KB token', async () => 'a'.repeat(10_000), 'Token is too long'],
  ])('refuses %s as UNAUTHENTICATED with a reason', async (_name, make, message) => {
    const res = await server.gql('{ me { id } }', {}, await make());
    expect(res.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    expect(res.errors![0].message).toContain(message);
  });

  it('accepts one spelling of a token only: a copy with other spare bits in its signature is refused, not cached as another key', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('speller').setExpirationTime('1h').sign(secret);
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token[token.length - 1];
    const respelled = token.slice(0, -1) + ALPHABET[ALPHABET.indexOf(last) ^ 1]; // the same bytes, spelled differently
    expect(Buffer.from(respelled.split('.')[2], 'base64url')).toEqual(Buffer.from(token.split('.')[2], 'base64url'));
    expect((await server.gql('{ me { id } }', {}, token)).data!.me.id).toBe('speller');
    const res = await server.gql('{ me { id } }', {}, respelled);
    expect(res.errors![0]).toMatchObject({ message: expect.stringContaining('canonical'), extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('refuses an Authorization header that is not a bearer token', async () => {
    for (const header of ['Basic dXNlcjpwdw==', 'Bearer', 'Bearer a b', 'bearer\u0000x']) {
      const res = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: header },
        body: JSON.stringify({ query: '{ me { id } }' }),
      }).catch(() => null);
      if (res === null) continue; // fetch itself refuses a NUL in a header
      const json = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it("answers NOT_FOUND for another user's order, never FORBIDDEN, and leaves it out of their list", async () => {
    const alice = await server.token('alice');
    const mallory = await server.token('mallory');
    const order = (await server.gql(CREATE, { input: { amount: '5.00', subject: 'mine' } }, alice)).data!.createOrder;
    for (const q of [ORDER, PAY_LINK]) {
      const res = await server.gql(q, { id: order.id }, mallory);
      expect(res.errors![0].extensions!.code).toBe('NOT_FOUND');
      expect(res.errors![0].message).toBe('Order not found');
    }
    const list = (await server.gql(LIST, {}, mallory)).data!.orders.edges;
    expect(list.map((e: { node: { id: string } }) => e.node.id)).not.toContain(order.id);
  });

  it("lets an admin read anybody's order but not ask for a pay link for it", async () => {
    const alice = await server.token('alice');
    const admin = await server.token('root', ['admin']);
    const order = (await server.gql(CREATE, { input: { amount: '5.00', subject: 'mine' } }, alice)).data!.createOrder;
    expect((await server.gql(ORDER, { id: order.id }, admin)).data!.order.id).toBe(order.id);
    expect((await server.gql(PAY_LINK, { id: order.id }, admin)).errors![0].extensions!.code).toBe('NOT_FOUND');
  });

  it('pushes the status change to the owner over graphql-ws, and refuses strangers and anonymous subscribers', async () => {
    const aliceToken = await server.token('alice');
    const order = (await server.gql(CREATE, { input: { amount: '8.00', subject: 'live' } }, aliceToken)).data!.createOrder;
    const wsUrl = `${server.url.replace('http', 'ws')}/graphql`;
    const SUB = `subscription($id: ID!) { orderStatusChanged(orderId: $id) { id status tradeNo } }`;
    const subscribe = (token: string | null) => {
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: token ? { authorization: `Bearer ${token}` } : {}, retryAttempts: 0 });
      const iterator = client.iterate({ query: SUB, variables: { id: order.id } });
      return { client, iterator };
    };

    const stranger = subscribe(await server.token('mallory'));
    const refused = await stranger.iterator.next();
    expect(refused.value).toEqual({ errors: [expect.objectContaining({ extensions: { code: 'NOT_FOUND' } })] });
    expect(refused.value).not.toHaveProperty('data.orderStatusChanged');
    await stranger.client.dispose();
    // Anonymous: the socket is closed with 4401 before any operation runs.
    const anonymous = subscribe(null);
    await expect(anonymous.iterator.next()).rejects.toMatchObject({ code: 4401 });
    await anonymous.client.dispose();

    const owner = subscribe(aliceToken);
    const current = await owner.iterator.next();
    expect(current.value).toEqual({ data: { orderStatusChanged: { id: order.id, status: 'WAIT_BUYER_PAY', tradeNo: null } } });
    const first = owner.iterator.next();
    const tradeNo = newTradeNo();
    const body = await signedNotifyBody(
      { appId: server.config.alipay.appId, sellerId: server.config.alipay.sellerId!, outTradeNo: order.orderNo, tradeNo, totalAmount: '8.00', tradeStatus: 'TRADE_SUCCESS' },
      server.alipayKey,
    );
    expect((await server.notify(body)).text).toBe('success');
    const pushed = await first;
    expect(pushed.value).toEqual({ data: { orderStatusChanged: { id: order.id, status: 'TRADE_SUCCESS', tradeNo } } });
    await owner.iterator.return?.();
    await owner.client.dispose();
  });

  it('releases every closed subscription, also on an order that will never change again', async () => {
    const aliceToken = await server.token('alice');
    const order = (await server.gql(CREATE, { input: { amount: '8.00', subject: 'quiet' } }, aliceToken)).data!.createOrder;
    const wsUrl = `${server.url.replace('http', 'ws')}/graphql`;
    const events = server.app.services.orderEvents;
    const before = events.activeSubscriptions;
    for (let i = 0; i < 5; i++) {
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${aliceToken}` }, retryAttempts: 0 });
      const iterator = client.iterate({ query: `subscription($id: ID!) { orderStatusChanged(orderId: $id) { status } }`, variables: { id: order.id } });
      expect((await iterator.next()).value).toEqual({ data: { orderStatusChanged: { status: 'WAIT_BUYER_PAY' } } });
      expect(events.activeSubscriptions).toBe(before + 1);
      await iterator.return?.();
      await client.dispose();
      for (let wait = 0; wait < 40 && events.activeSubscriptions !== before; wait++) await new Promise((r) => setTimeout(r, 50));
      expect(events.activeSubscriptions).toBe(before);
    }
  });
});

describe('token verification options', () => {
  it('checks issuer and audience when they are configured', async () => {
    const server = await startTestServer({ JWT_SECRET: 'issuer-test-secret-0123456789abcdef', JWT_ISSUER: 'https://id.example.com', JWT_AUDIENCE: 'payments' });
    try {
      const good = await server.token('u1');
      expect((await server.gql('{ me { id } }', {}, good)).data!.me.id).toBe('u1');
      const key = new TextEncoder().encode('issuer-test-secret-0123456789abcdef');
      const wrongIssuer = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer('https://evil.example.com').setAudience('payments').setExpirationTime('1h').sign(key);
      const noAudience = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer('https://id.example.com').setExpirationTime('1h').sign(key);
      for (const token of [wrongIssuer, noAudience]) {
        const res = await server.gql('{ me { id } }', {}, token);
        expect(res.errors![0]).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' }, message: expect.stringMatching(/claim check failed: iss|has no aud claim/) });
      }
    } finally {
      await server.close();
    }
  });

  it('verifies RS256 tokens with JWT_PUBLIC_KEY and refuses HS256 tokens keyed with that public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const server = await startTestServer({ JWT_PUBLIC_KEY: pem });
    try {
      const rs256 = await new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'RS256' }).setSubject('rsa-user').setExpirationTime('1h').sign(privateKey);
      expect((await server.gql('{ me { id roles } }', {}, rs256)).data!.me).toEqual({ id: 'rsa-user', roles: ['admin'] });
      const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('rsa-user').setExpirationTime('1h').sign(new TextEncoder().encode(pem));
      expect((await server.gql('{ me { id } }', {}, confused)).errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    } finally {
      await server.close();
    }
  });

  it('verifies ES256 tokens against a JWKS URL, and refuses tokens signed by a key not in the set', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwks = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const server = await startTestServer({ JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json` });
    try {
      const good = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('ec-user').setExpirationTime('1h').sign(privateKey);
      expect((await server.gql('{ me { id } }', {}, good)).data!.me.id).toBe('ec-user');
      const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      const bad = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('ec-user').setExpirationTime('1h').sign(stranger);
      expect((await server.gql('{ me { id } }', {}, bad)).errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    } finally {
      await server.close();
      jwks.close();
    }
  });
});
