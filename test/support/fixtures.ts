import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The real Alipay-signed vectors the tests use, kept in the project (test/fixtures/alipay, with a MANIFEST of where
 * each came from), so a clone anywhere passes its tests with nothing beside it. ALIPAY_FIXTURES_DIR points
 * elsewhere on purpose (e.g. a fuller set).
 */
export const FIXTURES_DIR = process.env.ALIPAY_FIXTURES_DIR ?? path.resolve(__dirname, '../fixtures/alipay');

if (!existsSync(path.join(FIXTURES_DIR, 'MANIFEST.md'))) {
  throw new Error(`Alipay fixtures not found in ${FIXTURES_DIR} (test/fixtures/alipay, or ALIPAY_FIXTURES_DIR)`);
}

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES_DIR, name), 'utf8');
}

export function fixtureJson<T = Record<string, string>>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
