import { X509Certificate } from 'node:crypto';
import { parseForm } from '../../src/alipay/alipay.form';
import { certSn, rootCertSn } from '../../src/alipay/alipay.cert';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, type TestServer } from '../support/server';

const CREATE = `mutation($input: CreateOrderInput!) { createOrder(input: $input) { id orderNo } }`;
const PAY_LINK = `mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`;

describe('certificate mode (公钥证书模式) against the local Alipay', () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ SANDBOX_CERT_MODE: 'true' });
    token = await server.token('kim');
  });
  afterAll(async () => {
    await server?.close();
  });

  it('signs requests with app_cert_sn and alipay_root_cert_sn computed from the certificates', async () => {
    const certs = server.config.sandbox!.certificates!;
    expect(server.config.alipay.certificates).toEqual({
      appCertSn: expect.stringMatching(/^[0-9a-f]{32}$/),
      alipayRootCertSn: rootCertSn(certs.rootPem),
      alipayCertSn: certSn(new X509Certificate(certs.alipayCertPem)),
    });
    const order = (await server.gql(CREATE, { input: { amount: '12.00', subject: 'cert mode' } }, token)).data!.createOrder;
    const url = (await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url;
    const params = parseForm(new URL(url).search.slice(1));
    expect(params.app_cert_sn).toBe(server.config.alipay.certificates!.appCertSn);
    expect(params.alipay_root_cert_sn).toBe(server.config.alipay.certificates!.alipayRootCertSn);
  });

  it('pays, refunds and syncs, with every gateway answer carrying and matching alipay_cert_sn', async () => {
    const order = (await server.gql(CREATE, { input: { amount: '12.00', subject: 'cert mode' } }, token)).data!.createOrder;
    await pressPay((await openCashier((await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url)).cashierUrl);
    await waitFor('paid', async () => (await server.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: order.id }, token)).data!.order.status === 'TRADE_SUCCESS');
    const admin = await server.token('ops', ['admin']);
    const refund = await server.gql(`mutation($input: RefundOrderInput!) { refundOrder(input: $input) { status } }`, { input: { orderId: order.id, amount: '2.00' } }, admin);
    expect(refund.data!.refundOrder.status).toBe('SUCCEEDED');
    const synced = await server.gql(`mutation($id: ID!) { syncOrder(orderId: $id) { status } }`, { id: order.id }, token);
    expect(synced.data!.syncOrder.status).toBe('TRADE_SUCCESS');
    const raw = await server.app.alipay.client.exec('alipay.trade.query', { out_trade_no: order.orderNo }, { idempotent: true });
    expect(raw.trade_status).toBe('TRADE_SUCCESS');
  });

  it('refuses a request whose app_cert_sn is not the registered certificate', async () => {
    const order = (await server.gql(CREATE, { input: { amount: '1.00', subject: 'cert mode' } }, token)).data!.createOrder;
    const url = new URL((await server.gql(PAY_LINK, { id: order.id }, token)).data!.generatePayLink.url);
    url.searchParams.set('app_cert_sn', '00000000000000000000000000000000');
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('isv.invalid-app-cert-sn');
  });
});
