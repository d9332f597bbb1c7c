/**
 * The browser playground end to end: `startPlayground` builds and serves the page, Debian's
 * Chromium (headless, WebGPU on) loads it, and each mode must train live — the step counter and
 * the losses advance, the drawn samples change — with no console error. Screenshots of each mode
 * go to tests/artifacts/e2e/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startPlayground, type PlaygroundServer } from '../../apps/playground/server';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts', 'e2e');

let server: PlaygroundServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: run \`bash scripts/setup.sh --browser\` (npm test does)`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startPlayground({ port: 0, outDir: join(import.meta.dirname, '..', '..', '.cache', 'e2e-playground') });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** A page that records every console error and uncaught exception. */
async function openPage(setup?: (page: Page) => Promise<unknown>): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  if (setup) await setup(page);
  await page.goto(server.url);
  return { page, errors };
}

const status = (page: Page) => page.evaluate(() => document.body.dataset.status);
const waitForStatus = (page: Page, wanted: string) =>
  page.waitForFunction((w) => document.body.dataset.status === w || document.body.dataset.status === 'error', wanted, { timeout: 60_000 })
    .then(async () => expect(await status(page), await page.textContent('#error-message') ?? '').toBe(wanted));
const stepCount = async (page: Page) => Number(await page.textContent('#step-count'));
const canvasImage = (page: Page, id: string) => page.evaluate((i) => (document.getElementById(i) as HTMLCanvasElement).toDataURL(), id);
const losses = async (page: Page) => ({
  d: Number(await page.textContent('#loss-d')),
  g: Number(await page.textContent('#loss-g')),
});

async function waitForStep(page: Page, atLeast: number): Promise<void> {
  await page.waitForFunction(
    (n) => Number(document.getElementById('step-count')!.textContent) >= n || document.body.dataset.status === 'error',
    atLeast,
    { timeout: 90_000 },
  );
  expect(await status(page), await page.textContent('#error-message') ?? '').not.toBe('error');
}

/** Plays until the counter passes two marks; the losses, the samples and the rate must all move. */
async function trainsLive(page: Page, canvasId: string, steps: number): Promise<void> {
  const before = await canvasImage(page, canvasId);
  await page.click('#play');
  await waitForStep(page, Math.ceil(steps / 2));
  const early = await losses(page);
  await waitForStep(page, steps);
  const late = await losses(page);
  for (const v of [early.d, early.g, late.d, late.g]) expect(Number.isFinite(v)).toBe(true);
  expect(late.d !== early.d || late.g !== early.g).toBe(true);
  // Samples are redrawn from the same latents: a changed picture means a changed generator.
  await page.waitForFunction(([id, old]) => (document.getElementById(id) as HTMLCanvasElement).toDataURL() !== old, [canvasId, before] as const, { timeout: 30_000 });
  expect(Number(await page.textContent('#rate'))).toBeGreaterThan(0);
}

describe('playground in Chromium', () => {
  test('2D mode: ring8 trains live, pauses, single-steps and resets', async () => {
    const { page, errors } = await openPage();
    await waitForStatus(page, 'ready');
    expect(await page.textContent('#adapter')).toMatch(/\S/);
    expect(await page.isVisible('#field')).toBe(true);
    await trainsLive(page, 'field', 30);

    await page.click('#play'); // pause
    await waitForStatus(page, 'ready');
    const paused = await stepCount(page);
    await page.waitForTimeout(500);
    expect(await stepCount(page)).toBe(paused);
    await page.click('#step');
    await page.waitForFunction((n) => Number(document.getElementById('step-count')!.textContent) === n + 1, paused, { timeout: 30_000 });

    await page.screenshot({ path: join(ARTIFACTS, 'playground-2d-ring8.png') });

    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('step-count')!.textContent === '0', null, { timeout: 30_000 });
    await waitForStatus(page, 'ready');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('2D mode: grid25 with WGAN-GP trains with 5 critic steps and shows the penalty', async () => {
    const { page, errors } = await openPage();
    await waitForStatus(page, 'ready');
    await page.selectOption('#dataset', 'grid25');
    await page.selectOption('#loss', 'wgan-gp');
    await waitForStatus(page, 'ready');
    expect(await page.inputValue('#n-critic')).toBe('5');
    expect(await page.isVisible('#penalty-field')).toBe(true);
    await trainsLive(page, 'field', 10);
    expect(Number.isFinite(Number(await page.textContent('#penalty')))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-2d-grid25-wgan-gp.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  test('a learning rate out of range is refused with a message and not applied', async () => {
    const { page, errors } = await openPage();
    await waitForStatus(page, 'ready');
    await page.fill('#lr-g', '5');
    expect(await page.textContent('#settings-problem')).toBe('generator learning rate must be in (0, 1), got 5');
    await page.fill('#lr-g', '0.002');
    expect(await page.textContent('#settings-problem')).toBe('');
    expect(errors).toEqual([]);
    await page.close();
  });

  test('MNIST mode: the sample grid refreshes as the MLP GAN trains', async () => {
    const { page, errors } = await openPage();
    await waitForStatus(page, 'ready');
    await page.selectOption('#mode', 'mnist');
    await waitForStatus(page, 'ready');
    expect(await page.isVisible('#digits')).toBe(true);
    expect(await page.isVisible('#field')).toBe(false);
    await trainsLive(page, 'digits', 20);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-mnist-mlp.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  test('MNIST mode: DCGAN trains too', async () => {
    const { page, errors } = await openPage();
    await waitForStatus(page, 'ready');
    await page.selectOption('#mode', 'mnist');
    await waitForStatus(page, 'ready');
    await page.selectOption('#model', 'dcgan');
    await waitForStatus(page, 'ready');
    await trainsLive(page, 'digits', 4);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-mnist-dcgan.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  test('without WebGPU the page says what to do instead of going blank', async () => {
    const { page, errors } = await openPage((p) => p.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
    }));
    await waitForStatus(page, 'no-webgpu');
    expect(await page.isVisible('#no-webgpu')).toBe(true);
    expect(await page.isVisible('#app')).toBe(false);
    expect(await page.textContent('#no-webgpu')).toContain('This page needs WebGPU');
    expect(await page.textContent('#no-webgpu-reason')).toContain('navigator.gpu is missing');
    await page.screenshot({ path: join(ARTIFACTS, 'playground-no-webgpu.png') });
    expect(errors).toEqual([]);
    await page.close();
  });
});
