import { X509Certificate } from 'node:crypto';
import { parseForm, encodeForm } from '../../src/alipay/alipay.form';
import { parsePrivateKey, parsePublicKey } from '../../src/alipay/alipay.keys';
import { splitResponse } from '../../src/alipay/alipay.response';
import {
  CALLBACK_V1_OMIT,
  canonicalString,
  compareByteOrder,
  signParams,
  verifyCallback,
  verifyText,
} from '../../src/alipay/alipay.signer';
import { fixtureJson, fixtureText } from '../support/fixtures';

const certKey = (file: string) => new X509Certificate(fixtureText(file)).publicKey;

describe('the canonical string', () => {
  it('sorts names in byte order, joins k=v with & and keeps values raw', () => {
    const s = canonicalString({ b: '2', a: 'x y+z/=', c: '中文' }, new Set());
    expect(s).toBe('a=x y+z/=&b=2&c=中文');
  });

  it('drops empty and absent values and the omitted names, but keeps sign_type for requests', () => {
    const s = canonicalString({ sign: 'S', sign_type: 'RSA2', empty: '', none: undefined, a: '1' }, new Set(['sign']));
    expect(s).toBe('a=1&sign_type=RSA2');
  });

  it('drops sign and sign_type for callbacks (V1)', () => {
    expect(canonicalString({ sign: 'S', sign_type: 'RSA2', a: '1' }, CALLBACK_V1_OMIT)).toBe('a=1');
  });

  it('orders characters above U+FFFF after those just below it, as UTF-8 bytes do', () => {
    // U+FF5E (UTF-8 EF BD 9E) sorts before U+1F600 (F0 9F 98 80); UTF-16 code units would say the opposite.
    expect(compareByteOrder('\uff5e', '\u{1f600}')).toBeLessThan(0);
    expect(compareByteOrder('a', 'ab')).toBeLessThan(0);
    expect(compareByteOrder('app_id', 'app_cert_sn')).toBeGreaterThan(0);
  });
});

describe('request signing against the golden vector (yansongda/pay)', () => {
  const vector = fixtureJson<{ private_key_file: string; payload: Record<string, string>; expected_sign: string }>(
    'request-sign-yansongda-v2.json',
  );

  it('produces the exact sign Alipay expects for the 12-parameter payload', async () => {
    const key = parsePrivateKey(fixtureText(vector.private_key_file));
    await expect(signParams(vector.payload, key, 'RSA2')).resolves.toBe(vector.expected_sign);
  });

  it('produces the same sign from the bare base64 form of the same key', async () => {
    const key = parsePrivateKey(fixtureText('yansongda-pay/alipayAppSecret.txt'));
    await expect(signParams(vector.payload, key, 'RSA2')).resolves.toBe(vector.expected_sign);
  });

  it('produces a different sign when any value changes', async () => {
    const key = parsePrivateKey(fixtureText(vector.private_key_file));
    const edited = { ...vector.payload, biz_content: '{"out_trade_no":"1703141271"}' };
    await expect(signParams(edited, key, 'RSA2')).resolves.not.toBe(vector.expected_sign);
  });

  it('verifies with the app certificate public key that belongs to the signing key', async () => {
    const key = parsePrivateKey(fixtureText(vector.private_key_file));
    const sign = await signParams(vector.payload, key, 'RSA2');
    const text = canonicalString(vector.payload, new Set(['sign']));
    await expect(verifyText(text, sign, certKey('yansongda-pay/alipayAppPublicCert.crt'), 'RSA2')).resolves.toBe(true);
  });
});

describe('verifying real Alipay notifies', () => {
  const tradeNotify = fixtureJson('notify-trade-status-sync-2019.json');
  const tradeKey = parsePublicKey(fixtureText('notify-trade-status-sync-2019.alipay-public-key.pem'));

  it('accepts the 2019 trade notify under the V1 rule (sign and sign_type removed)', async () => {
    await expect(verifyCallback(tradeNotify, tradeKey, 'RSA2')).resolves.toBe('V1');
  });

  it('refuses the trade notify when one character of a value is edited after signing', async () => {
    await expect(verifyCallback({ ...tradeNotify, total_amount: '0.11' }, tradeKey, 'RSA2')).resolves.toBeNull();
    await expect(verifyCallback({ ...tradeNotify, subject: '语雀空间 500人规模 ' }, tradeKey, 'RSA2')).resolves.toBeNull();
  });

  it('refuses the trade notify checked with another key (the app key instead of Alipay\'s)', async () => {
    const appKey = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/app-public-key.pem'));
    await expect(verifyCallback(tradeNotify, appKey, 'RSA2')).resolves.toBeNull();
  });

  it('refuses a notify that claims the legacy RSA sign type when RSA2 is configured', async () => {
    await expect(verifyCallback({ ...tradeNotify, sign_type: 'RSA' }, tradeKey, 'RSA2')).resolves.toBeNull();
  });

  it('accepts the service-market notify under the V2 rule (sign_type kept)', async () => {
    const notify = fixtureJson('notify-servicemarket-order-2019.json');
    const key = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/alipay-notify-sign-public-key-v2.pem'));
    await expect(verifyCallback(notify, key, 'RSA2')).resolves.toBe('V2');
  });

  it('keeps a literal + in the subject when the form body encodes it as %2B, and verifies', async () => {
    const notify = fixtureJson('notify-plus-in-subject-yansongda-sandbox-2023.json');
    const body = encodeForm(notify);
    expect(body).toContain('subject=yansongda%2B');
    const parsed = parseForm(Buffer.from(body));
    expect(parsed.subject).toBe('yansongda+测试 - 1');
    await expect(verifyCallback(parsed, certKey('yansongda-pay/alipayPublicCert.crt'), 'RSA2')).resolves.toBe('V1');
  });

  it('fails to verify when the + has been turned into a space, as a second decode would do', async () => {
    const notify = fixtureJson('notify-plus-in-subject-yansongda-sandbox-2023.json');
    const decodedTwice = { ...notify, subject: notify.subject.replace('+', ' ') };
    const key = certKey('yansongda-pay/alipayPublicCert.crt');
    await expect(verifyCallback(decodedTwice, key, 'RSA2')).resolves.toBeNull();
  });
});

describe('verifying a real return_url query string', () => {
  const query = fixtureText('return-url-sync-yansongda-sandbox-2023.txt').trim();
  const key = certKey('yansongda-pay/alipayPublicCert.crt');

  it('verifies after form-decoding once (timestamp + becomes a space)', async () => {
    const params = parseForm(query);
    expect(params.timestamp).toBe('2023-12-21 14:48:44');
    await expect(verifyCallback(params, key, 'RSA2')).resolves.toBe('V1');
  });

  it('does not verify when the amount in the query string is edited', async () => {
    const params = parseForm(query.replace('total_amount=0.01', 'total_amount=0.02'));
    await expect(verifyCallback(params, key, 'RSA2')).resolves.toBeNull();
  });
});

describe('verifying real signed gateway responses over their raw _response text', () => {
  it('verifies alipay.open.file.upload with Alipay\'s public key', async () => {
    const raw = fixtureText('response-alipay-open-file-upload.json').trim();
    const split = splitResponse(raw, 'alipay.open.file.upload');
    expect(split.body.code).toBe('10000');
    const key = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/alipay-public-key.pem'));
    await expect(verifyText(split.content, split.sign ?? '', key, 'RSA2')).resolves.toBe(true);
  });

  it('verifies a signed 40003 business error (Chinese sub_msg kept byte-exact)', async () => {
    const raw = fixtureText('response-error-40003-signed.json').trim();
    const split = splitResponse(raw, 'alipay.security.risk.content.analyze');
    expect(split.body.sub_msg).toBe('解密出错, 未知错误');
    const key = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/alipay_stable_rsa2_public_key.pem'));
    await expect(verifyText(split.content, split.sign ?? '', key, 'RSA2')).resolves.toBe(true);
  });

  it('fails when the response is re-serialized instead of cut from the raw text', async () => {
    const raw = fixtureText('response-error-40003-signed.json').trim();
    const split = splitResponse(raw, 'alipay.security.risk.content.analyze');
    const reserialized = JSON.stringify(split.body).replace('解密出错, 未知错误', '解密出错,未知错误');
    const key = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/alipay_stable_rsa2_public_key.pem'));
    await expect(verifyText(reserialized, split.sign ?? '', key, 'RSA2')).resolves.toBe(false);
  });

  it('verifies the fund-transfer response with the first certificate of the sandbox chain', async () => {
    const content = fixtureText('response-fund-trans-yansongda-sandbox-2023.signed-content.txt').trim();
    const sign = fixtureText('response-fund-trans-yansongda-sandbox-2023.sign.txt').trim();
    await expect(verifyText(content, sign, certKey('yansongda-pay/alipayPublicCert.crt'), 'RSA2')).resolves.toBe(true);
    await expect(verifyText(content.replace('0.01', '0.02'), sign, certKey('yansongda-pay/alipayPublicCert.crt'), 'RSA2')).resolves.toBe(false);
  });

  it('treats a malformed signature as not verified instead of throwing', async () => {
    const key = parsePublicKey(fixtureText('alipay-sdk-nodejs-all/alipay-public-key.pem'));
    for (const sign of ['', 'not base64!', 'QUJD', 'A'.repeat(5000)]) {
      await expect(verifyText('x', sign, key, 'RSA2')).resolves.toBe(false);
    }
  });
});

describe('legacy RSA (SHA1withRSA)', () => {
  it('signs and verifies with RSA, and an RSA signature does not pass as RSA2', async () => {
    const key = parsePrivateKey(fixtureText('python-alipay-sdk/app/app_private_key.pem'));
    const pub = parsePublicKey(fixtureText('python-alipay-sdk/app/app_public_key.pem'));
    const params = { app_id: '2016000000000000', sign_type: 'RSA', biz_content: '{"a":"中文"}' };
    const sign = await signParams(params, key, 'RSA');
    const text = canonicalString(params, new Set(['sign']));
    await expect(verifyText(text, sign, pub, 'RSA')).resolves.toBe(true);
    await expect(verifyText(text, sign, pub, 'RSA2')).resolves.toBe(false);
    expect(sign).not.toBe(await signParams(params, key, 'RSA2'));
  });
});
