import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The real Alipay-signed vectors live next to the project in ../shared/fixtures/alipay and are read in place,
 * never copied in. ALIPAY_FIXTURES_DIR overrides the location (e.g. for a clone that sits elsewhere).
 */
function locate(): string {
  const candidates = [
    process.env.ALIPAY_FIXTURES_DIR,
    path.resolve(__dirname, '../../../shared/fixtures/alipay'),
    '/work/shared/fixtures/alipay',
  ].filter((dir): dir is string => Boolean(dir));
  const found = candidates.find((dir) => existsSync(path.join(dir, 'MANIFEST.md')));
  if (!found) {
    throw new Error(`Alipay fixtures not found; looked in ${candidates.join(', ')} (set ALIPAY_FIXTURES_DIR)`);
  }
  return found;
}

export const FIXTURES_DIR = locate();

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES_DIR, name), 'utf8');
}

export function fixtureJson<T = Record<string, string>>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
