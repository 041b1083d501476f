import { createHash, X509Certificate } from 'node:crypto';

/**
 * Certificate mode (公钥证书模式): every request carries `app_cert_sn` and `alipay_root_cert_sn`, every response
 * `alipay_cert_sn`. A certificate's SN is the lowercase hex MD5 of its issuer DN in RFC 2253 order
 * (`CN=…,OU=…,O=…,C=…`) followed by its serial number in decimal. The root SN joins the SNs of the RSA-signed
 * certificates of Alipay's root bundle with `_` (SM2- and ECDSA-signed ones are skipped).
 */
export class CertificateError extends Error {
  override name = 'CertificateError';
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const RSA_SIGNATURE_OID = '1.2.840.113549.1.1.';

/** The PEM certificates in a file, in order (CRLF tolerated). */
export function splitCertificates(text: string): X509Certificate[] {
  const blocks = text.replace(/\r\n/g, '\n').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new CertificateError('no PEM certificate found');
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new CertificateError('a certificate does not parse');
    }
  });
}

/** The SN of one certificate. */
export function certSn(cert: X509Certificate): string {
  const issuer = cert.issuer.split('\n').reverse().join(',');
  const serial = BigInt(`0x${cert.serialNumber}`).toString(10);
  return createHash('md5').update(issuer + serial).digest('hex');
}

/** Reads a DER length at `at`; returns [length, index of the content]. */
function derLength(der: Buffer, at: number): [number, number] {
  const first = der[at];
  if (first < 0x80) return [first, at + 1];
  const bytes = first & 0x7f;
  if (bytes === 0 || bytes > 4) throw new CertificateError('unsupported DER length');
  let length = 0;
  for (let i = 1; i <= bytes; i++) length = length * 256 + der[at + i];
  return [length, at + 1 + bytes];
}

function oidToString(bytes: Buffer): string {
  const parts = [Math.floor(bytes[0] / 40), bytes[0] % 40];
  let value = 0;
  for (let i = 1; i < bytes.length; i++) {
    value = value * 128 + (bytes[i] & 0x7f);
    if ((bytes[i] & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The OID of the algorithm the certificate was signed with (Certificate.signatureAlgorithm). */
export function signatureAlgorithmOid(cert: X509Certificate): string {
  const der = cert.raw;
  if (der[0] !== 0x30) throw new CertificateError('not a DER certificate');
  let [, at] = derLength(der, 1); // into Certificate
  if (der[at] !== 0x30) throw new CertificateError('no tbsCertificate');
  const [tbsLength, tbsContent] = derLength(der, at + 1);
  at = tbsContent + tbsLength; // past tbsCertificate
  if (der[at] !== 0x30) throw new CertificateError('no signatureAlgorithm');
  [, at] = derLength(der, at + 1); // into AlgorithmIdentifier
  if (der[at] !== 0x06) throw new CertificateError('no algorithm OID');
  const [oidLength, oidContent] = derLength(der, at + 1);
  return oidToString(der.subarray(oidContent, oidContent + oidLength));
}

/** The SN of the first certificate in a PEM file: the app certificate, or Alipay's public key certificate. */
export function firstCertSn(text: string): string {
  return certSn(splitCertificates(text)[0]);
}

/** `alipay_root_cert_sn` of a root bundle: the SNs of its RSA-signed certificates, joined by `_`. */
export function rootCertSn(text: string): string {
  const sns = splitCertificates(text)
    .filter((cert) => signatureAlgorithmOid(cert).startsWith(RSA_SIGNATURE_OID))
    .map(certSn);
  if (sns.length === 0) throw new CertificateError('the root bundle has no RSA-signed certificate');
  return sns.join('_');
}
