import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlipayClient, AlipayError, AlipayResponseError, AlipayUnavailableError } from '../../src/alipay/alipay.client';
import { parseForm } from '../../src/alipay/alipay.form';
import { parsePrivateKey, parsePublicKey } from '../../src/alipay/alipay.keys';
import { canonicalString, REQUEST_OMIT, signText, verifyText } from '../../src/alipay/alipay.signer';
import { fixtureText } from '../support/fixtures';

/** A stand-in gateway (the fixtures' "ali" key pair plays Alipay) that answers what each test scripts. */
const aliKey = parsePrivateKey(fixtureText('python-alipay-sdk/ali/ali_private_key.pem'));
const aliPublic = parsePublicKey(fixtureText('python-alipay-sdk/ali/ali_public_key.pem'));
const appKey = parsePrivateKey(fixtureText('python-alipay-sdk/app/app_private_key.pem'));
const appPublic = parsePublicKey(fixtureText('python-alipay-sdk/app/app_public_key.pem'));

type Script = (params: Record<string, string>) => Promise<{ status?: number; body: string; delayMs?: number }>;

const signed = async (member: string, content: string, extra = '') =>
  `{"${member}":${content},"sign":"${await signText(content, aliKey, 'RSA2')}"${extra}}`;

describe('the gateway client', () => {
  let peer: http.Server;
  let script: Script;
  const requests: Array<Record<string, string>> = [];

  beforeAll(async () => {
    peer = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const params = { ...parseForm(Buffer.from(req.url!.split('?')[1] ?? '')), ...parseForm(Buffer.concat(chunks)) };
        requests.push(params);
        const answer = await script(params);
        setTimeout(() => res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(answer.body), answer.delayMs ?? 0);
      });
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
  });
  afterAll(() => peer.close());
  beforeEach(() => {
    requests.length = 0;
  });

  const client = (extra: Partial<ConstructorParameters<typeof AlipayClient>[0]> = {}) =>
    new AlipayClient({
      gatewayUrl: `http://127.0.0.1:${(peer.address() as AddressInfo).port}/gateway.do`,
      app: { appId: '2021000000000001', signType: 'RSA2' },
      appPrivateKey: appKey,
      alipayPublicKey: aliPublic,
      timeoutMs: 500,
      backoffMs: 10,
      ...extra,
    });
  const query = (c = client()) => c.exec('alipay.trade.query', { out_trade_no: 'T1' }, { idempotent: true });

  it('sends a correctly signed request and returns a success whose raw _response text verifies', async () => {
    const content = '{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","out_trade_no":"T1","buyer_logon_id":"中文 x\\"y"}';
    script = async () => ({ body: await signed('alipay_trade_query_response', content) });
    const answer = await query();
    expect(answer).toMatchObject({ trade_status: 'TRADE_SUCCESS', buyer_logon_id: '中文 x"y' });
    const sent = requests[0];
    expect(sent).toMatchObject({ method: 'alipay.trade.query', app_id: '2021000000000001', charset: 'utf-8', sign_type: 'RSA2', biz_content: '{"out_trade_no":"T1"}' });
    await expect(verifyText(canonicalString(sent, REQUEST_OMIT), sent.sign, appPublic, 'RSA2')).resolves.toBe(true);
  });

  it('refuses an unsigned success', async () => {
    script = async () => ({ body: '{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS"}}' });
    await expect(query()).rejects.toThrow(AlipayResponseError);
  });

  it('refuses a success whose text was changed after signing', async () => {
    const content = '{"code":"10000","msg":"Success","trade_status":"WAIT_BUYER_PAY"}';
    const body = (await signed('alipay_trade_query_response', content)).replace('WAIT_BUYER_PAY', 'TRADE_SUCCESS');
    script = async () => ({ body });
    await expect(query()).rejects.toThrow('does not verify');
  });

  it('trusts a signed business error as an AlipayError with its codes', async () => {
    script = async () => ({ body: await signed('alipay_trade_query_response', '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}') });
    const err = await query().catch((e) => e);
    expect(err).toBeInstanceOf(AlipayError);
    expect(err).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST', subMsg: '交易不存在', verified: true });
  });

  it('reports an unsigned error_response as an unverified AlipayError', async () => {
    script = async () => ({ body: '{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}' });
    await expect(query()).rejects.toMatchObject({ code: '40002', subCode: 'isv.invalid-app-id', verified: false });
  });

  it('retries a 20000 answer and returns the success that follows', async () => {
    let n = 0;
    script = async () =>
      ++n < 3
        ? { body: await signed('alipay_trade_query_response', '{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error"}') }
        : { body: await signed('alipay_trade_query_response', '{"code":"10000","msg":"Success","trade_status":"TRADE_CLOSED"}') };
    await expect(query()).resolves.toMatchObject({ trade_status: 'TRADE_CLOSED' });
    expect(requests).toHaveLength(3);
  });

  it('gives up as unavailable when Alipay stays busy', async () => {
    script = async () => ({ body: await signed('alipay_trade_query_response', '{"code":"20000","msg":"Service Currently Unavailable"}') });
    await expect(query()).rejects.toThrow(AlipayUnavailableError);
    expect(requests).toHaveLength(3);
  });

  it('retries timeouts and 5xx only for idempotent calls', async () => {
    script = async () => ({ status: 502, body: 'bad gateway' });
    await expect(query()).rejects.toThrow(AlipayUnavailableError);
    expect(requests).toHaveLength(3);
    requests.length = 0;
    await expect(client().exec('alipay.trade.pay', {}, { idempotent: false })).rejects.toThrow(AlipayUnavailableError);
    expect(requests).toHaveLength(1);
    requests.length = 0;
    script = async () => ({ body: '{}', delayMs: 1000 });
    await expect(query(client({ retries: 0 }))).rejects.toThrow('timed out');
  });

  it('refuses malformed answers', async () => {
    for (const body of ['not json', '{"other_response":{}}', '{"alipay_trade_query_response":"string"}', '{"alipay_trade_query_response":{"code":"10000"']) {
      script = async () => ({ body });
      await expect(query()).rejects.toThrow(AlipayResponseError);
    }
  });

  it('in certificate mode refuses a response signed under another certificate, or under none named', async () => {
    const content = '{"code":"10000","msg":"Success"}';
    script = async () => ({ body: await signed('alipay_trade_query_response', content, ',"alipay_cert_sn":"0000aaaa"') });
    await expect(query(client({ alipayCertSn: '7513daaaa48aa3ba2e4018d84402479c' }))).rejects.toThrow('not the configured');
    script = async () => ({ body: await signed('alipay_trade_query_response', content) });
    await expect(query(client({ alipayCertSn: '7513daaaa48aa3ba2e4018d84402479c' }))).rejects.toThrow('no alipay_cert_sn');
    script = async () => ({ body: await signed('alipay_trade_query_response', content, ',"alipay_cert_sn":"7513daaaa48aa3ba2e4018d84402479c"') });
    await expect(query(client({ alipayCertSn: '7513daaaa48aa3ba2e4018d84402479c' }))).resolves.toMatchObject({ code: '10000' });
  });
});
