import { createPublicKey } from 'node:crypto';
import { AlipaySdk } from 'alipay-sdk';
import { parseForm } from '../../src/alipay/alipay.form';
import { canonicalString, REQUEST_OMIT, verifyText } from '../../src/alipay/alipay.signer';
import { newTradeNo, signedNotify } from '../../src/sandbox/sandbox.callbacks';
import { openCashier, pressPay, waitFor } from '../support/buyer';
import { startTestServer, testSecrets, type TestServer } from '../support/server';

/**
 * The official Node SDK (npm alipay-sdk) as an independent peer: what it signs must verify with our code, what
 * we sign must pass its checks, and its client must work against our local Alipay's gateway.do.
 */
describe('interop with the official alipay-sdk', () => {
  let server: TestServer;
  let sdk: AlipaySdk;

  beforeAll(async () => {
    server = await startTestServer();
    sdk = new AlipaySdk({
      appId: server.config.alipay.appId,
      privateKey: testSecrets().appPrivateKeyPem,
      keyType: 'PKCS8',
      alipayPublicKey: createPublicKey(server.alipayKey).export({ format: 'pem', type: 'spki' }).toString(),
      gateway: server.config.alipay.gatewayUrl,
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const appPublic = () => createPublicKey(server.config.alipay.appPrivateKey);

  it("signs an app.pay order string that our verifier accepts, and our verifier refuses it once edited", async () => {
    const orderString = sdk.sdkExec('alipay.trade.app.pay', {
      bizContent: { out_trade_no: 'SDK-1', total_amount: '0.01', subject: 'SDK 签名 + plus', product_code: 'QUICK_MSECURITY_PAY' },
      notify_url: `${server.config.publicUrl}/alipay/notify`,
    });
    const params = parseForm(orderString);
    expect(params.method).toBe('alipay.trade.app.pay');
    await expect(verifyText(canonicalString(params, REQUEST_OMIT), params.sign, appPublic(), 'RSA2')).resolves.toBe(true);
    const edited = { ...params, biz_content: params.biz_content.replace('0.01', '0.02') };
    await expect(verifyText(canonicalString(edited, REQUEST_OMIT), params.sign, appPublic(), 'RSA2')).resolves.toBe(false);
  });

  it('opens our cashier with a page.pay link the SDK built', async () => {
    const url = sdk.pageExec('alipay.trade.page.pay', 'GET', {
      bizContent: { out_trade_no: 'SDK-PAGE-1', total_amount: '8.80', subject: 'SDK page link', product_code: 'FAST_INSTANT_TRADE_PAY' },
    });
    const cashier = await openCashier(url);
    expect(cashier.html).toContain('¥8.80');
  });

  it('accepts our local Alipay\'s notifies in its checkNotifySignV2, and rejects them when edited', async () => {
    const fields = await signedNotify(
      { appId: server.config.alipay.appId, sellerId: '2088000000000001', outTradeNo: 'SDK-2', tradeNo: newTradeNo(), totalAmount: '1.00', subject: 'a+b 测试', tradeStatus: 'TRADE_SUCCESS' },
      server.alipayKey,
    );
    expect(sdk.checkNotifySignV2(fields)).toBe(true);
    expect(sdk.checkNotifySignV2({ ...fields, total_amount: '100.00' })).toBe(false);
  });

  it('calls our gateway.do with its own client and verifies our signed responses: query, refund, refund query', async () => {
    const token = await server.token('nina');
    const order = (await server.gql(`mutation { createOrder(input: { amount: "20.00", subject: "SDK 查询" }) { id orderNo } }`, {}, token)).data!.createOrder;
    const link = (await server.gql(`mutation($id: ID!) { generatePayLink(orderId: $id) { url } }`, { id: order.id }, token)).data!.generatePayLink;
    await pressPay((await openCashier(link.url)).cashierUrl);
    await waitFor('paid', async () => (await server.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: order.id }, token)).data!.order.status === 'TRADE_SUCCESS');

    const queried = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: order.orderNo } }, { validateSign: true });
    expect(queried).toMatchObject({ code: '10000', tradeStatus: 'TRADE_SUCCESS', totalAmount: '20.00', outTradeNo: order.orderNo });

    const refunded = await sdk.exec(
      'alipay.trade.refund',
      { bizContent: { out_trade_no: order.orderNo, refund_amount: '5.00', out_request_no: 'SDK-R1' } },
      { validateSign: true },
    );
    expect(refunded).toMatchObject({ code: '10000', fundChange: 'Y', refundFee: '5.00' });

    const refundQuery = await sdk.exec('alipay.trade.fastpay.refund.query', { bizContent: { out_trade_no: order.orderNo, out_request_no: 'SDK-R1' } }, { validateSign: true });
    expect(refundQuery).toMatchObject({ code: '10000', refundAmount: '5.00', refundStatus: 'REFUND_SUCCESS' });

    const missing = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: 'NO-SUCH-ORDER' } }, { validateSign: true });
    expect(missing).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' });
  });

  it('is told isv.invalid-signature, with the gateway\'s string to sign, when it signs with a foreign key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const foreign = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const stranger = new AlipaySdk({ appId: server.config.alipay.appId, privateKey: foreign, keyType: 'PKCS8', gateway: server.config.alipay.gatewayUrl });
    const answer = await stranger.exec('alipay.trade.query', { bizContent: { out_trade_no: 'X' } });
    expect(answer).toMatchObject({ code: '40002', subCode: 'isv.invalid-signature' });
    expect(answer.subMsg).toContain('网关生成的验签字符串为');
  });
});
