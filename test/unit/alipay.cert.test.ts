import { firstCertSn, rootCertSn, signatureAlgorithmOid, splitCertificates, CertificateError } from '../../src/alipay/alipay.cert';
import { fixtureText } from '../support/fixtures';

describe('certificate SNs (公钥证书模式)', () => {
  it.each([
    ['alipay-sdk-nodejs-all/appCertPublicKey_2021001161683774.crt', '866efef280dec9137a87d047ac446315'],
    ['alipay-sdk-nodejs-all/alipayCertPublicKey_RSA2.crt', '7513daaaa48aa3ba2e4018d84402479c'],
    ['yansongda-pay/alipayAppPublicCert.crt', 'e90dd23a37c5c7b616e003970817ff82'],
  ])('computes the SN of %s as %s', (file, sn) => {
    expect(firstCertSn(fixtureText(file))).toBe(sn);
  });

  it('computes alipay_root_cert_sn from the RSA-signed certificates of the bundle only', () => {
    expect(rootCertSn(fixtureText('alipay-sdk-nodejs-all/alipayRootCert.crt'))).toBe(
      '687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6',
    );
    expect(rootCertSn(fixtureText('yansongda-pay/alipayRootCert.crt'))).toBe(
      '687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6',
    );
  });

  it('tolerates CRLF line endings in the bundle', () => {
    const crlf = fixtureText('alipay-sdk-nodejs-all/alipayRootCert.crt').replace(/\n/g, '\r\n');
    expect(rootCertSn(crlf)).toBe('687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6');
  });

  it('reads the signature algorithms of the four root certificates (SM2, RSA, ECDSA, RSA)', () => {
    const oids = splitCertificates(fixtureText('alipay-sdk-nodejs-all/alipayRootCert.crt')).map(signatureAlgorithmOid);
    expect(oids).toEqual(['1.2.156.10197.1.501', '1.2.840.113549.1.1.11', '1.2.840.10045.4.3.3', '1.2.840.113549.1.1.5']);
  });

  it('takes the first certificate of a chain file as the Alipay public key certificate', () => {
    expect(firstCertSn(fixtureText('yansongda-pay/alipayPublicCert.crt'))).toBe('6f1e366a31d9575cd546914add04f4af');
  });

  it('refuses text without a certificate', () => {
    expect(() => firstCertSn('hello')).toThrow(CertificateError);
  });
});
