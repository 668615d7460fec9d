/**
 * Headless Chromium for the dashboard suite: Debian's `chromium` driven by playwright-core
 * (no browser download). Each launch gets a fresh profile folder, removed on close, so no
 * cookie or cache survives from one run to the next.
 */
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from './gangway.js';
import { HELPER_START_LIMIT_MS, HelperStartError } from './helper-start.js';

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** What to install when the browser is missing (named in the skip message). */
export const CHROMIUM_PACKAGE = 'the Debian package chromium';

/** Screenshots land here (gitignored); a human (or a reviewer) looks at them after a run. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/** How long a launch may take (below vitest's hookTimeout of 120 s). */
const LAUNCH_LIMIT_MS = Math.min(30_000, HELPER_START_LIMIT_MS);

/** True when Debian's chromium is installed. */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/** A running browser with one context; `close` stops it and removes its profile folder. */
export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Saves a full-page screenshot as test-artifacts/<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium at 1280×800 with a fresh profile.
 *
 * @example
 * const browser = await launchChromium();
 * await browser.page.goto(url);
 * await browser.screenshot('01-sign-in');
 * await browser.close();
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'gangway-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--headless'],
      viewport: { width: 1280, height: 800 },
      // playwright-core kills the browser when it is not up within this, and its error carries the browser's log.
      timeout: LAUNCH_LIMIT_MS,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    const message = err instanceof Error ? err.message : String(err);
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    throw new HelperStartError(`Chromium (${CHROMIUM_PATH}, via playwright-core)`, LAUNCH_LIMIT_MS,
      timedOut ? `did not start within ${LAUNCH_LIMIT_MS} ms` : 'did not start', message, timedOut);
  }
  const page = context.pages()[0] ?? await context.newPage();
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
