/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by playwright-core
 * (no browser download). Where Chromium is: CHROMIUM_PATH when set (and then only there), else
 * /usr/bin/chromium, else `chromium` on PATH. Without it the tests fail under CI (`.ci/run` installs it) and are skipped, saying how
 * to install it, elsewhere.
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Flags for a container without a sandbox, a GPU or a network beyond the tests' servers. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false; // not there, or not runnable: the next candidate is tried
  }
};

/** The Chromium binary, or null when there is none (or CHROMIUM_PATH names none). */
export function chromiumPath(): string | null {
  const chosen = process.env.CHROMIUM_PATH;
  const candidates = chosen
    ? [chosen]
    : ['/usr/bin/chromium', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'chromium'))];
  return candidates.find(isExecutable) ?? null;
}

const MISSING =
  'Chromium is not installed: `apt-get install -y chromium` (Debian), or set CHROMIUM_PATH to a Chromium binary';

/**
 * `describe` when Chromium is there. Without it: under CI one failing test that says so, elsewhere
 * a skipped block and a warning.
 */
export function describeInChromium(name: string, body: () => void): void {
  if (chromiumPath()) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('needs Chromium', () => {
        throw new Error(MISSING);
      });
    });
  } else {
    console.warn(`${name}: skipped. ${MISSING}`);
    describe.skip(name, body);
  }
}

export function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error(MISSING);
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/** Where screenshots go: test-output/browser at the repository root (git-ignored). */
export const SCREENSHOT_DIR = resolve(__dirname, '../../../test-output/browser');

/** Saves a full-page screenshot as `<name>.png` and prints where it is. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

/**
 * A page that records what went wrong in it: uncaught errors, and console errors other than the
 * ones a test expects (a refused websocket logs one).
 */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}
