import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { issueCertificate } from '../../src/sandbox/sandbox.certs';

describe("the local Alipay's certificates", () => {
  const root = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dn = { C: 'CN', O: 'Local Alipay', OU: 'Sandbox', CN: 'Root' };

  it.each([
    ['the public key an app registers with', () => app.publicKey],
    ['the private key', () => app.privateKey],
  ])('issues an app certificate from %s, signed by the root', (_label, key) => {
    const pem = issueCertificate({ subject: { ...dn, CN: 'App public key' }, subjectKey: key(), issuer: dn, issuerKey: root.privateKey });
    const cert = new X509Certificate(pem);
    expect(cert.publicKey.export({ format: 'pem', type: 'spki' })).toBe(createPublicKey(app.privateKey).export({ format: 'pem', type: 'spki' }));
    expect(cert.verify(root.publicKey)).toBe(true);
  });
});
