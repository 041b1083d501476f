import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (npx playwright install cannot download here); CHROMIUM_PATH points elsewhere. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots the browser tests keep (gitignored). */
export const SCREENSHOTS = path.resolve(__dirname, '../../test-results');

/**
 * Whether the browser tests of `what` can run. Without Chromium they are skipped with a warning on a laptop, and
 * fail in CI (.ci/run sets REQUIRE_BROWSER and installs it): call at the top level of a test file.
 */
export function chromiumAvailable(what: string): boolean {
  const available = fs.existsSync(CHROMIUM);
  if (!available && process.env.REQUIRE_BROWSER) {
    test(`a Chromium is installed for the ${what} tests`, () => {
      expect(`${CHROMIUM} exists`).toBe(`${CHROMIUM} is missing`);
    });
  } else if (!available) {
    console.warn(`${what} browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  }
  return available;
}

/** A headless Chromium that reaches for nothing on its own (no updates, sync or background fetches). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Runs a browser session in its own context; on failure keeps a screenshot in test-results/ for the person who has to look. */
export async function withPage(browser: Browser, name: string, viewport: { width: number; height: number }, run: (page: Page) => Promise<void>): Promise<void> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  try {
    await run(page);
  } catch (err) {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true }).catch(() => undefined);
    throw err;
  } finally {
    await context.close();
  }
}
