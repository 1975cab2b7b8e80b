/**
 * What the console's browser tests share: the system's Chromium (CHROMIUM_PATH, or `chromium` /
 * `chromium-browser` on PATH; never a downloaded one), the screenshot folder, and a page logged in
 * with a token's secret through the console's login form.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

export function findChromium(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return existsSync(given) ? given : undefined;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (path) return path;
    } catch {
      // not on PATH
    }
  }
  return undefined;
}

/** Where the flows' screenshots go (git-ignored). */
export const consoleArtifacts = join(process.cwd(), 'test-artifacts', 'console');

/** Long enough for a poll (5 s) and a worker's attempt or two. */
export const uiTimeout = 20_000;

/**
 * A new browser context logged in to the console at `url` with `secret`, on the Overview page.
 * Page errors and console errors (other than the 401 before the login) are pushed to `errors`.
 */
export async function loggedInPage(browser: Browser, url: string, secret: string, errors: string[], viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(uiTimeout);
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/401|Unauthorized/.test(message.text())) errors.push(message.text());
  });
  await page.goto(`${url}/`);
  await page.waitForURL(/\/login$/);
  await page.getByLabel('Token secret').fill(secret);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}

/**
 * What makes the page wider than its viewport (a narrow screen should scroll only inside tables and
 * drawings): the elements reaching past its right edge that no scrolling box holds, as
 * `tag#id.class`; empty when the page fits.
 */
export function sidewaysOverflow(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    if (document.documentElement.scrollWidth <= window.innerWidth) return [];
    const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    const held = (el) => { for (let p = el.parentElement; p; p = p.parentElement) if (scrolls(p)) return true; return false; };
    const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.getAttribute('class') ? '.' + el.getAttribute('class').split(' ').join('.') : '');
    return [...document.body.querySelectorAll('*')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1 && !held(el))
      .slice(0, 10)
      .map(name);
  })()`);
}
