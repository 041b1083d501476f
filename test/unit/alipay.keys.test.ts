import { generateKeyPairSync } from 'node:crypto';
import { KeyFormatError, parsePrivateKey, parsePublicKey, sameKeyPair } from '../../src/alipay/alipay.keys';
import { fixtureText } from '../support/fixtures';

const NODE = 'alipay-sdk-nodejs-all/';

describe('parsing keys in every format Alipay hands out', () => {
  const formats = ['app-private-key.pem', 'app-private-key-pkcs8.pem', 'app-private-key-no-wrapper.pem', 'app-private-key-pkcs8-no-wrapper.pem'];
  const reference = parsePublicKey(fixtureText(`${NODE}app-public-key.pem`));

  it.each(formats)('reads %s as the same RSA private key', (file) => {
    const key = parsePrivateKey(fixtureText(`${NODE}${file}`));
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(sameKeyPair(key, reference)).toBe(true);
  });

  it('reads a key pasted into an env file with literal \\n sequences', () => {
    const pem = fixtureText(`${NODE}app-private-key-pkcs8.pem`).trim().replace(/\n/g, '\\n');
    expect(sameKeyPair(parsePrivateKey(pem), reference)).toBe(true);
  });

  it('reads public keys as SPKI PEM, bare base64, PKCS#1 PEM and from a certificate', () => {
    expect(sameKeyPair(parsePublicKey(fixtureText(`${NODE}app-public-key-no-wrapper.pem`)), reference)).toBe(true);
    const pkcs1 = reference.export({ format: 'pem', type: 'pkcs1' }).toString();
    expect(sameKeyPair(parsePublicKey(pkcs1), reference)).toBe(true);
    const fromCert = parsePublicKey(fixtureText('yansongda-pay/alipayAppPublicCert.crt'));
    expect(sameKeyPair(fromCert, parsePrivateKey(fixtureText('yansongda-pay/alipayAppSecretCert.pem')))).toBe(true);
  });

  it('refuses a public key where a private key belongs, and the reverse, without echoing the key', () => {
    const pub = fixtureText(`${NODE}app-public-key.pem`);
    const priv = fixtureText(`${NODE}app-private-key.pem`);
    expect(() => parsePrivateKey(pub)).toThrow(KeyFormatError);
    try {
      parsePublicKey(priv);
      throw new Error('expected a failure');
    } catch (err) {
      expect((err as Error).message).toContain('private key');
      expect((err as Error).message).not.toContain(priv.split('\n')[1].slice(0, 20));
    }
  });

  it.each([
    ['', 'empty'],
    ['not a key, at all!', 'neither PEM nor base64'],
    ['notakeyatall', 'does not parse as an RSA private key'],
    ['-----BEGIN PRIVATE KEY-----\nAAAA', 'without a matching footer'],
    ['QUJDRA==', 'does not parse'],
    ['-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----', 'encrypted'],
  ])('refuses %j as a private key (%s)', (input, message) => {
    expect(() => parsePrivateKey(input)).toThrow(message);
  });

  it('refuses a non-RSA key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(() => parsePrivateKey(ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())).toThrow('needs RSA');
  });
});
