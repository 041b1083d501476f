import { startTestServer, type TestServer } from '../support/server';

describe('the local Alipay and the new mutations refuse bad input clearly and change nothing', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const gateway = (query: string, init?: RequestInit) => fetch(`${server.config.alipay.gatewayUrl}${query}`, { redirect: 'manual', ...init });
  const json = async (res: Response) => JSON.parse(await res.text()) as Record<string, Record<string, string>>;

  it('answers missing and unknown basics with Alipay codes', async () => {
    expect((await json(await gateway(''))).error_response).toMatchObject({ code: '40001', sub_code: 'isv.missing-method' });
    expect((await json(await gateway('?method=alipay.trade.query'))).error_response).toMatchObject({ sub_code: 'isv.missing-app-id' });
    expect((await json(await gateway('?method=alipay.trade.query&app_id=2021999999999999'))).error_response).toMatchObject({ code: '40002', sub_code: 'isv.invalid-app-id' });
    const unsigned = await json(await gateway(`?method=alipay.trade.query&app_id=${server.config.alipay.appId}&sign_type=RSA2&timestamp=2026-01-01%2000:00:00`));
    expect(unsigned.alipay_trade_query_response).toMatchObject({ code: '40001', sub_code: 'isv.missing-signature' });
  });

  it('refuses malformed, duplicated, oversized and JSON requests to gateway.do', async () => {
    expect((await gateway('?a=%zz')).status).toBe(400);
    const dup = await gateway('?method=alipay.trade.query', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'method=alipay.trade.close' });
    expect((await json(dup)).error_response.sub_msg).toContain('given twice');
    const big = await gateway('', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `x=${'a'.repeat(70_000)}` });
    expect(big.status).toBe(400);
    const asJson = await gateway('', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"alipay.trade.query"}' });
    expect((await json(asJson)).error_response.sub_msg).toContain('application/x-www-form-urlencoded');
    expect((await gateway('', { method: 'DELETE' })).status).toBe(405);
  });

  it('answers a made-up cashier address with 404 and pays nothing', async () => {
    for (const token of ['x', 'A'.repeat(40), '../../etc/passwd', '%00']) {
      expect((await fetch(`${server.url}/sandbox/alipay/cashier/${encodeURIComponent(token)}`)).status).toBe(404);
      expect((await fetch(`${server.url}/sandbox/alipay/cashier/${encodeURIComponent(token)}/pay`, { method: 'POST', redirect: 'manual' })).status).toBe(404);
    }
  });

  it('refuses bad ids, amounts, reasons and keys in syncOrder, closeOrder and refundOrder', async () => {
    const token = await server.token('pat');
    const admin = await server.token('ops', ['admin']);
    for (const id of ['nope', '00000000-0000-0000-0000-000000000000', "'; drop table orders; --"]) {
      for (const m of ['syncOrder', 'closeOrder']) {
        expect((await server.gql(`mutation($id: ID!) { ${m}(orderId: $id) { status } }`, { id }, token)).errors![0].extensions!.code).toBe('NOT_FOUND');
      }
      expect((await server.gql(`mutation($id: ID!) { refundOrder(input: { orderId: $id, amount: "1.00" }) { status } }`, { id }, admin)).errors![0].extensions!.code).toBe('NOT_FOUND');
    }
    const order = (await server.gql(`mutation { createOrder(input: { amount: "5.00", subject: "x" }) { id } }`, {}, token)).data!.createOrder;
    const REFUND = `mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status } }`;
    for (const [input, field] of [
      [{ orderId: order.id, amount: '1.00', reason: 'r'.repeat(257) }, 'reason'],
      [{ orderId: order.id, amount: '1.00', reason: 'line\nbreak' }, 'reason'],
      [{ orderId: order.id, amount: '1.00', idempotencyKey: 'has space' }, 'idempotencyKey'],
    ] as const) {
      expect((await server.gql(REFUND, { input }, admin)).errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect((await server.gql(REFUND, { input: { orderId: order.id, amount: 1 } }, admin)).errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('opens one trade for eight simultaneous first visits of a pay link', async () => {
    const token = await server.token('quinn');
    const order = (await server.gql(`mutation { createOrder(input: { amount: "3.00", subject: "race" }) { id } }`, {}, token)).data!.createOrder;
    const url = (await server.gql(`mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`, { id: order.id }, token)).data!.generatePayLink.url;
    const visits = await Promise.all(Array.from({ length: 8 }, () => fetch(url, { redirect: 'manual' })));
    expect(visits.map((v) => v.status)).toEqual(Array(8).fill(303));
    expect(new Set(visits.map((v) => v.headers.get('location'))).size).toBe(1);
  });

  it('answers an unknown or hostile method name with a well-formed, unsigned error_response', async () => {
    const res = await gateway(`?method=${encodeURIComponent('x","evil":"1')}&app_id=${server.config.alipay.appId}&sign_type=RSA2&sign=AAAA&timestamp=2026-01-01%2000:00:00`);
    const body = await json(res);
    expect(body.error_response).toMatchObject({ code: '40002' });
    expect(Object.keys(body)).toEqual(['error_response']);
  });

  it('answers over-long business fields with ACQ.INVALID_PARAMETER, not a server error', async () => {
    const client = server.app.alipay.client;
    const tooLongReason = await client.exec('alipay.trade.refund', { out_trade_no: 'nope', refund_amount: '1.00', refund_reason: 'r'.repeat(300) }, { idempotent: true }).catch((e) => e);
    expect(tooLongReason).toMatchObject({ code: '40004', subCode: 'ACQ.INVALID_PARAMETER' });
    const { url } = await server.app.alipay.payRequest('PAGE', { outTradeNo: 'LONGBODY1', totalAmount: '1.00', subject: 's', body: 'b'.repeat(200) }, { notifyUrl: `${server.url}/alipay/notify` });
    const res = await fetch(url!, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('ACQ.INVALID_PARAMETER');
  });

  it('refuses to replace a registered app key through the control API', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const res = await fetch(`${server.url}/sandbox/alipay/apps/${server.config.alipay.appId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ publicKey }) });
    expect(res.status).toBe(409);
    const token = await server.token('rae');
    const order = (await server.gql(`mutation { createOrder(input: { amount: "1.00", subject: "still works" }) { id } }`, {}, token)).data!.createOrder;
    const url = (await server.gql(`mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`, { id: order.id }, token)).data!.generatePayLink.url;
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(303);
  });
});
