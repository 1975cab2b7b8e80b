/**
 * The console's record pages in a real, headless Chromium (the system's, see support/console-browser.ts),
 * driven by playwright-core against a console on a real port with a real worker: the Audit page after
 * an operator's retry, a replayed job's lineage both ways, and a looped pipeline's stage graph, at
 * 1280×800 and on a narrow screen. Each flow saves a screenshot under test-artifacts/console/.
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
import { backends, testConfig } from './support/backends.js';
import { consoleArtifacts, findChromium, loggedInPage, sidewaysOverflow, uiTimeout } from './support/console-browser.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { waitFor, waitForStatus } from './support/harness.js';

/** Fails (permanently) on the visits its context's `plan[stage]` marks `fail`; completes otherwise. */
const graphStage = defineJob({
  name: 'test.graph-stage',
  schema: stagePayloadSchema(),
  maxAttempts: 1,
  handler(payload: StagePayload) {
    const plan = (payload.context.plan ?? {}) as Record<string, string[] | undefined>;
    if (plan[payload.stage]?.[payload.visit - 1] === 'fail') throw new PermanentJobError(`${payload.stage} rejected on visit ${payload.visit}`);
    return {};
  },
});

/** write → check → publish; a failed check loops back to write (budget rework: 3). */
const graphPipeline = definePipeline({
  name: 'test.graph-loop',
  stages: {
    write: { job: 'test.graph-stage', on: { completed: 'check' } },
    check: { job: 'test.graph-stage', on: { completed: 'publish', failed: { loopTo: 'write', budget: 'rework' } } },
    publish: { job: 'test.graph-stage', on: { completed: { end: 'succeeded', state: 'published' } } },
  },
  budgets: { rework: 3 },
});

const executablePath = findChromium();
if (!executablePath) {
  console.warn('console-browser-record.test.ts: skipped, no Chromium executable (set CHROMIUM_PATH, or install Debian\'s chromium package)');
}
const operatorSecret = 'olga-operator-secret-0123';
const viewerSecret = 'vera-viewer-secret-01234';
const tokens = parseConsoleTokens(`olga:operator:${operatorSecret},vera:viewer:${viewerSecret}`);
const narrow = { width: 390, height: 800 };

describe.skipIf(!executablePath).each(backends)('console record pages in Chromium on %s', (dialect) => {
  let jl: JobLedger;
  let server: RunningConsole;
  let browser: Browser;
  const pageErrors: string[] = [];
  const tag = `r${Date.now().toString(36)}`;

  beforeAll(async () => {
    mkdirSync(consoleArtifacts, { recursive: true });
    jl = await JobLedger.open({ jobs: [scriptedJob, graphStage], pipelines: [graphPipeline], migrate: true, config: await testConfig(dialect) });
    await jl.createWorker({ concurrency: 4 }).start();
    server = await startConsole({ jl, tokens, host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await jl?.close();
  });

  const shot = (page: Page, flow: string) => page.screenshot({ path: join(consoleArtifacts, `${dialect}-${flow}.png`), fullPage: true });
  const auditRows = (page: Page) => page.locator('#audit-results tbody tr');

  it('lists an operator\'s retry on the Audit page with actor, reason and what changed, filtered and paged by URL', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent', tag: `${tag}-audit` });
    await waitForStatus(jl, id, 'failed');
    const hostileReason = '<img src=x onerror="window.__pwned = 1"> upstream fixed';
    const page = await loggedInPage(browser, server.url, operatorSecret, pageErrors);
    await page.goto(`${server.url}/jobs/${id}`);
    await page.getByLabel('Reason to retry (required)').fill(hostileReason);
    await page.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => page.locator('#operator-retries').textContent(), { timeout: uiTimeout }).toBe('Retried by an operator 1 time (new attempts of this job)');
    await waitForStatus(jl, id, 'failed');
    await jl.retry({ jobId: id, reason: 'second try from a script', actor: 'cli-bot', source: 'cli' });

    // By keyboard: the nav link, then the filters (Enter submits them).
    await page.getByRole('link', { name: 'Audit', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Audit' }).waitFor();
    await page.getByLabel('Subject').focus();
    await page.keyboard.type(id);
    await page.getByLabel('Actor').focus();
    await page.keyboard.type('olga');
    await page.keyboard.press('Enter');
    await page.waitForURL(new RegExp(`/audit\\?actor=olga&subject=${id}$`));
    await expect.poll(() => auditRows(page).count()).toBe(1);
    const cells = auditRows(page).first().locator('td');
    expect(await cells.nth(1).textContent()).toBe('olga');
    expect(await cells.nth(2).textContent()).toBe('api');
    expect(await cells.nth(3).textContent()).toBe('job.retry');
    expect(await cells.nth(4).textContent()).toBe(`job ${id}`);
    expect(await cells.nth(5).textContent()).toBe(hostileReason);
    expect(await cells.nth(6).textContent()).toMatch(/status: "failed" → "(pending|queued)"/);
    expect(await page.locator('#audit-results img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    await shot(page, 'audit');

    // A shared link with a page size of one: newest first, then Older, then back to Newest.
    await page.goto(`${server.url}/audit?subject=${id}&limit=1`);
    await expect.poll(() => auditRows(page).locator('td:nth-child(2)').allTextContents()).toEqual(['cli-bot']);
    await page.getByRole('link', { name: 'Older' }).click();
    await page.waitForURL(/after=aud_/);
    await expect.poll(() => auditRows(page).locator('td:nth-child(2)').allTextContents()).toEqual(['olga']);
    await page.getByRole('link', { name: 'Newest' }).click();
    await expect.poll(() => auditRows(page).locator('td:nth-child(2)').allTextContents()).toEqual(['cli-bot']);
    // The subject links to its job's page.
    await auditRows(page).first().getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    await page.context().close();

    // A viewer reads the Audit page too, and on a narrow screen only the table scrolls sideways.
    const viewer = await loggedInPage(browser, server.url, viewerSecret, pageErrors, narrow);
    await viewer.goto(`${server.url}/audit?subject=${id}`);
    await expect.poll(() => auditRows(viewer).count()).toBe(2);
    expect(await sidewaysOverflow(viewer)).toEqual([]);
    await shot(viewer, 'audit-narrow');
    await viewer.context().close();
  });

  it('shows a replayed job\'s lineage both ways, with the replay\'s name and reason', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent', tag: `${tag}-replay` });
    await waitForStatus(jl, id, 'failed');
    const replayed = await jl.replays.run({ name: 'card fix <b>2</b>', reason: 'processor patched', actor: 'rita', filter: { jobId: id } });
    if (replayed.dryRun) throw new Error('not a dry run');
    const madeId = (await jl.replays.lineage(id)).replayedAs[0]!.jobId;

    const page = await loggedInPage(browser, server.url, operatorSecret, pageErrors);
    await page.goto(`${server.url}/jobs/${id}`);
    const replayedAs = page.locator('#replayed-as');
    await expect.poll(() => replayedAs.textContent()).toBe(`Replayed as ${madeId} by replay “card fix <b>2</b>” (processor patched), rita`);
    expect(await page.locator('#replayed-as b').count()).toBe(0);
    await replayedAs.getByRole('link', { name: madeId }).click();
    await page.getByRole('heading', { name: `Job ${madeId}` }).waitFor();
    await expect.poll(() => page.locator('#replay-of').textContent()).toBe(`Replay of ${id} by replay “card fix <b>2</b>” (processor patched), rita`);
    await shot(page, 'lineage');
    await page.locator('#replay-of').getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: `Job ${id}` }).waitFor();
    await page.locator('#replayed-as').waitFor();

    // The replay on the Replays page, and its audit row (replay.start) one link further.
    await page.getByRole('link', { name: 'Replays', exact: true }).click();
    const row = page.locator('tbody tr', { hasText: replayed.replay.id });
    await expect.poll(() => row.locator('td').nth(1).textContent()).toBe('card fix <b>2</b>');
    await row.getByRole('link', { name: `audit rows of ${replayed.replay.id}` }).click();
    await expect.poll(() => auditRows(page).locator('td:nth-child(4)').allTextContents()).toEqual(['replay.start']);
    await page.context().close();
  });

  it('draws a looped pipeline\'s stage graph with visits, the loop taken and the budget left', async () => {
    const { id } = await jl.pipelines.start('test.graph-loop', { context: { plan: { check: ['fail'] } } });
    await waitFor(async () => ((await jl.pipelines.get(id)).status === 'running' ? undefined : true), `pipeline ${id} to end`);
    const page = await loggedInPage(browser, server.url, operatorSecret, pageErrors);
    await page.goto(`${server.url}/pipelines/${id}`);
    await page.getByRole('heading', { name: 'Stage graph' }).waitFor();

    const svg = page.locator('svg.graph');
    expect(await svg.locator('g.g-node').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-stage')))).toEqual(['write', 'check', 'publish']);
    expect(await svg.locator('g.g-node .g-visits').allTextContents()).toEqual(['2 visits', '2 visits', '1 visit']);
    const loop = svg.locator('g.e-loop[data-from="check"][data-to="write"]');
    expect(await loop.locator('text').textContent()).toBe('↺ 1 taken · 2 left of 3');
    expect(await svg.locator('g.e-next[data-from="write"][data-to="check"] text').textContent()).toBe('×2');
    expect(await svg.locator('g.g-end').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-end')).sort())).toEqual(['failed', 'published']);

    // The same graph as a list, with each stage's jobs linked.
    const check = page.locator('#stage-graph-list > li[data-stage="check"]');
    expect(await check.locator('.loop-edge').textContent()).toBe('↺ back to write when failed: taken 1×; budget rework: 1 of 3 loops used, 2 left');
    expect(await check.locator('.stage-jobs .badge').allTextContents()).toEqual(['failed', 'completed']);
    const detail = await jl.pipelines.detail(id);
    const firstCheckJob = detail.stages.find((s) => s.stage === 'check')!.jobId;
    await check.getByRole('link', { name: firstCheckJob }).click();
    await page.getByRole('heading', { name: `Job ${firstCheckJob}` }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'Stage graph' }).waitFor();
    await shot(page, 'pipeline-graph');
    await page.context().close();

    // On a narrow screen the drawing scrolls inside its frame; the page does not.
    const small = await loggedInPage(browser, server.url, viewerSecret, pageErrors, narrow);
    await small.goto(`${server.url}/pipelines/${id}`);
    await small.locator('svg.graph').waitFor();
    expect(await sidewaysOverflow(small)).toEqual([]);
    await shot(small, 'pipeline-graph-narrow');
    await small.context().close();
    expect(pageErrors).toEqual([]);
  });
});
