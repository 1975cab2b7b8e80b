/**
 * The operator console in a real, headless Chromium (the system's: CHROMIUM_PATH, or `chromium` /
 * `chromium-browser` on PATH; never a downloaded one), driven by playwright-core against a console
 * listening on a real port, with a real worker running the jobs in-process. Each flow saves a
 * screenshot under test-artifacts/console/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsole, type RunningConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { JobLedger } from '../src/jobledger.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema, type StagePayload } from '../src/jobs/define-pipeline.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends, testConfig } from './support/backends.js';
import { waitFor, waitForStatus } from './support/harness.js';
import { consoleArtifacts, findChromium, uiTimeout } from './support/console-browser.js';

/** A stage job whose context's `plan[stage][visit - 1]` says `fail` (permanently), `wait` (until cancelled) or, by default, complete. */
const browserStage = defineJob({
  name: 'test.browser-stage',
  schema: stagePayloadSchema(),
  maxAttempts: 1,
  async handler(payload: StagePayload, ctx) {
    const plan = (payload.context.plan ?? {}) as Record<string, string[] | undefined>;
    const action = plan[payload.stage]?.[payload.visit - 1];
    if (action === 'fail') throw new PermanentJobError(`${payload.stage} rejected on visit ${payload.visit}`);
    if (action === 'wait') await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
    return {};
  },
});

/** draft → review; a rejected review loops back to draft (at most twice). */
const loopingPipeline = definePipeline({
  name: 'test.browser-loop',
  start: 'draft',
  stages: {
    draft: { job: 'test.browser-stage', on: { completed: 'review' } },
    review: { job: 'test.browser-stage', on: { completed: { end: 'succeeded', state: 'published' }, failed: { loopTo: 'draft', budget: 'rework' } } },
  },
  budgets: { rework: 2 },
});

const executablePath = findChromium();
if (!executablePath) {
  console.warn('console-browser.test.ts: skipped, no Chromium executable (set CHROMIUM_PATH, or install Debian\'s chromium package)');
}
const artifacts = consoleArtifacts;
const operatorSecret = 'olga-operator-secret-0123';
const viewerSecret = 'vera-viewer-secret-01234';
const tokens = parseConsoleTokens(`olga:operator:${operatorSecret},vera:viewer:${viewerSecret}`);

describe.skipIf(!executablePath).each(backends)('console in Chromium on %s', (dialect) => {
  let jl: JobLedger;
  let server: RunningConsole;
  let browser: Browser;
  const pageErrors: string[] = [];
  const tag = `t${Date.now().toString(36)}`;

  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true });
    // Opened once for the file: the flows share the ledger, the worker, the console and the browser.
    jl = await JobLedger.open({ jobs: [scriptedJob, browserStage], pipelines: [loopingPipeline], migrate: true, config: await testConfig(dialect) });
    await jl.createWorker({ concurrency: 4 }).start();
    server = await startConsole({ jl, tokens, host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await jl?.close();
  });

  async function loggedIn(secret: string, options: { fakeClock?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    if (options.fakeClock) await page.clock.install();
    page.setDefaultTimeout(uiTimeout);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/401|Unauthorized/.test(message.text())) pageErrors.push(message.text());
    });
    await page.goto(`${server.url}/`);
    await page.waitForURL(/\/login$/);
    await page.getByLabel('Token secret').fill(secret);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('.count[data-status="failed"]').waitFor(); // the overview's first read has answered
    return page;
  }

  const shot = (page: Page, flow: string) => page.screenshot({ path: join(artifacts, `${dialect}-${flow}.png`), fullPage: true });

  it('opens the overview with the ledger\'s counts', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent', tag: `${tag}-overview` });
    await waitForStatus(jl, id, 'failed');
    const page = await loggedIn(operatorSecret);
    await expect.poll(async () => Number(await page.locator('.count[data-status="failed"]').textContent()), { timeout: uiTimeout }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => page.locator('#who').textContent()).toBe('olga (operator)');
    await shot(page, 'overview');
    await page.context().close();
  });

  it('refreshes a visible page on its interval, pauses while the tab is hidden, and refreshes when shown again', async () => {
    // The page's timers run on Playwright's clock: intervals pass when the test says, not by waiting.
    const page = await loggedIn(operatorSecret, { fakeClock: true });
    let reads = 0;
    page.on('request', (request) => {
      if (request.url().endsWith('/api/overview')) reads += 1;
    });
    // Evaluated in the page (the tests are compiled without the DOM's types).
    const setHidden = (hidden: boolean) =>
      page.evaluate(`Object.defineProperty(document, 'hidden', { configurable: true, get: () => ${hidden} }); document.dispatchEvent(new Event('visibilitychange'));`);

    const refreshInFlight = () => page.evaluate(`document.documentElement.hasAttribute('data-refreshing')`);
    await page.clock.runFor(5_000);
    await expect.poll(() => reads).toBe(1);
    // Until the read has answered and rendered, a tick is skipped, shown again or not.
    await expect.poll(refreshInFlight).toBe(false);
    await setHidden(true);
    await page.clock.runFor(30_000);
    expect(reads).toBe(1);
    await setHidden(false);
    await expect.poll(() => reads).toBe(2);
    await page.context().close();
  });

  it('finds a failed job by a payload field, retries it with a reason, and shows the new attempt', async () => {
    // Fails its three attempts; the retry's first attempt (the fourth) succeeds.
    const { id } = await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 4, tag: `${tag}-find-me` });
    await waitForStatus(jl, id, 'failed');
    const page = await loggedIn(operatorSecret);
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByLabel('Status').selectOption('failed');
    await page.getByLabel('Payload').fill(`payload.tag=${tag}-find-me`);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/\/jobs\?status=failed&q=payload.tag/);
    const rows = page.locator('#job-results tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    await expect.poll(() => page.locator('table').first().locator('tbody tr').count()).toBe(3);

    await page.getByLabel('Reason to retry (required)').fill('upstream fixed');
    await page.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => page.locator('table').first().locator('tbody tr').count(), { timeout: uiTimeout }).toBe(4);
    await expect.poll(() => page.locator('dl.facts .badge').first().textContent(), { timeout: uiTimeout }).toBe('completed');
    const retried = (await jl.ledger.getJobDetail(id)).events.find((e) => e.type === 'job.retried');
    expect(retried).toMatchObject({ actor: 'olga', payload: expect.objectContaining({ reason: 'upstream fixed' }) });
    await shot(page, 'retry');
    await page.context().close();
  });

  it('bulk-cancels every job matching a filter and shows how many', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await jl.enqueue('test.scripted', { action: 'succeed', tag: `${tag}-bulk` }, { delayMs: 3_600_000 })).id);
    const bystander = await jl.enqueue('test.scripted', { action: 'succeed', tag: `${tag}-keep` }, { delayMs: 3_600_000 });
    const page = await loggedIn(operatorSecret);
    await page.goto(`${server.url}/jobs?q=${encodeURIComponent(`payload.tag=${tag}-bulk`)}`);
    await expect.poll(() => page.locator('#job-results tbody tr').count()).toBe(3);
    await page.getByLabel('Action', { exact: true }).selectOption('cancel');
    await page.getByLabel('Apply to').selectOption('filter');
    await page.getByLabel('Reason (required)').fill('duplicate batch');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.locator('#bulk-outcome').textContent()).toMatch(/^cancel: 3 affected, 0 skipped of 3 matched/);
    await expect.poll(() => page.locator('#job-results .badge', { hasText: 'cancelled' }).count()).toBe(3);
    for (const id of ids) expect((await jl.ledger.getJobDetail(id)).events.at(-1)).toMatchObject({ type: 'job.cancelled', actor: 'olga' });
    expect((await jl.ledger.getJob(bystander.id)).status).toBe('delayed');
    await shot(page, 'bulk-cancel');
    await page.context().close();
  });

  it('shows a viewer no action buttons', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent', tag: `${tag}-viewer` });
    await waitForStatus(jl, id, 'failed');
    const page = await loggedIn(viewerSecret);
    await expect.poll(() => page.locator('#who').textContent()).toBe('vera (viewer)');
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator('#job-results tbody tr').first().waitFor();
    expect(await page.locator('form.bulk').count()).toBe(0);
    expect(await page.locator('input.pick').count()).toBe(0);
    await page.goto(`${server.url}/jobs/${id}`);
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    await page.locator('#payload').waitFor();
    expect(await page.getByRole('button', { name: /retry|cancel/i }).count()).toBe(0);
    await shot(page, 'viewer');
    await page.context().close();
  });

  it('opens a pipeline that looped and shows its stages, visits and loops', async () => {
    const { id } = await jl.pipelines.start('test.browser-loop', { context: { plan: { review: ['fail'] } } });
    await waitFor(async () => ((await jl.pipelines.get(id)).status === 'running' ? undefined : true), `pipeline ${id} to end`);
    const page = await loggedIn(operatorSecret);
    await page.getByRole('link', { name: 'Pipelines', exact: true }).click();
    await page.getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Pipeline ${id}` }).waitFor();
    const stages = page.locator('table').first().locator('tbody tr');
    await expect.poll(() => stages.count()).toBe(4);
    expect(await stages.locator('td:first-child').allTextContents()).toEqual(['draft', 'review', 'draft', 'review']);
    expect(await page.locator('#stage-visits').textContent()).toBe('Visits: draft ×2, review ×2');
    expect(await page.locator('#pipeline-status').textContent()).toContain('published');
    expect(await page.getByText('Loops taken: 1').count()).toBe(1);
    // A succeeded pipeline takes no action.
    expect(await page.getByRole('button', { name: /pipeline/i }).count()).toBe(0);
    await shot(page, 'pipeline-looped');
    await page.context().close();
  });

  it('cancels a running pipeline with a reason', async () => {
    const { id, jobId } = await jl.pipelines.start('test.browser-loop', { context: { plan: { draft: ['wait'] } } });
    await waitForStatus(jl, jobId, 'running');
    const page = await loggedIn(operatorSecret);
    await page.goto(`${server.url}/pipelines/${id}`);
    await page.getByLabel('Reason to cancel pipeline (required)').fill('ticket withdrawn');
    await page.getByRole('button', { name: 'Cancel pipeline' }).click();
    await expect.poll(() => page.locator('#pipeline-status').textContent(), { timeout: uiTimeout }).toContain('cancelled by olga: ticket withdrawn');
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^cancel: running → failed \(cancelled\); 1 stage job\(s\) cancelled/);
    // Now it may be retried instead.
    await page.getByRole('button', { name: 'Retry pipeline' }).waitFor();
    await waitForStatus(jl, jobId, 'cancelled');
    expect((await jl.pipelines.detail(id)).events.at(-1)).toMatchObject({ type: 'pipeline.cancelled', actor: 'olga', payload: expect.objectContaining({ reason: 'ticket withdrawn' }) });
    await shot(page, 'pipeline-cancel');
    await page.context().close();
  });

  it('restores a state snapshot and shows the value change', async () => {
    const ns = `browser-${dialect}`;
    await jl.state.set(ns, 'feature/flags', { checkout: 'old' });
    const snapshot = await jl.state.snapshot(ns, 'feature/flags', { description: 'known good' });
    await jl.state.set(ns, 'feature/flags', { checkout: 'broken' });
    const page = await loggedIn(operatorSecret);
    await page.getByRole('link', { name: 'State', exact: true }).click();
    await page.getByRole('link', { name: ns }).click();
    await page.getByRole('link', { name: 'feature/flags' }).click();
    await expect.poll(() => page.locator('#state-value').textContent()).toContain('broken');
    expect(await page.getByText(snapshot.checksum.slice(0, 12)).count()).toBe(1);
    await page.getByLabel('Snapshot', { exact: true }).selectOption(snapshot.id);
    await page.getByLabel('Reason to restore (required)').fill('bad rollout');
    await page.getByRole('button', { name: 'Restore' }).click();
    await expect.poll(() => page.locator('#state-value').textContent(), { timeout: uiTimeout }).toContain('old');
    await expect.poll(() => page.locator('#status').textContent()).toBe('restored: now version 3');
    const transitions = page.locator('table', { has: page.locator('caption', { hasText: 'Transitions' }) }).locator('tbody tr');
    expect(await transitions.first().locator('td').nth(1).textContent()).toBe('restored');
    expect(await transitions.first().textContent()).toContain('"broken" → "old"');
    expect((await jl.state.get(ns, 'feature/flags')).data).toEqual({ checkout: 'old' });
    await shot(page, 'state-restore');
    await page.context().close();
  });

  it('shows the maintenance tasks and the overview\'s charts', async () => {
    await jl.maintenance.run('rotate-snapshots');
    const page = await loggedIn(operatorSecret);
    expect(await page.locator('svg.chart').count()).toBe(2);
    expect(await page.locator('svg.chart polyline[data-series="completed"]').count()).toBe(2);
    await page.getByRole('link', { name: 'Maintenance', exact: true }).click();
    await page.getByRole('heading', { name: 'rotate-snapshots' }).waitFor();
    expect(await page.locator('section[aria-label="Task rotate-snapshots"] .badge').first().textContent()).toBe('succeeded');
    await shot(page, 'maintenance');
    await page.context().close();
  });

  it('renders a payload holding HTML as text', async () => {
    const hostile = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">${tag}`;
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed', tag: hostile }, { delayMs: 3_600_000 });
    const page = await loggedIn(operatorSecret);
    await page.goto(`${server.url}/jobs/${id}`);
    await page.locator('#payload').waitFor();
    const shown = await page.locator('#payload').textContent();
    expect(shown).toContain(JSON.stringify(hostile));
    expect(shown).toContain('<script>window.__pwned = 1</script>');
    expect(await page.locator('#payload img, #payload script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await page.goto(`${server.url}/jobs?q=${encodeURIComponent(`payload.tag=${hostile}`)}`);
    await expect.poll(() => page.locator('#job-results tbody tr').count()).toBe(1);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(page, 'html-payload');
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });
});
