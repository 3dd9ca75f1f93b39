/**
 * End to end: the built explorer (web/dist) served by `trustgc explore`'s server with the shipped
 * MNIST model, driven in Chromium by playwright-core (the one scripts/find-chromium.mjs finds: the
 * npm-shipped headless build by default). Screenshots go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { useBackend } from './helpers.js';
import { buildServer } from '../src/serve/server.js';
import { loadDataset } from '../src/data/registry.js';
import { projectRoot } from '../src/util/paths.js';
import { findChromium } from '../scripts/find-chromium.mjs';

const root = projectRoot();
const webDist = join(root, 'web', 'dist');
const artifacts = join(root, 'test-artifacts');
const MODEL = join(root, 'zoo', 'mnist-gc-beta1');

async function chromiumPath(): Promise<string> {
  const found = await findChromium();
  if (found.error !== undefined) throw new Error(found.error);
  return found.path;
}

let app: FastifyInstance;
let url: string;
let browser: Browser;
let digitPng: string;
let fashionPng: string;
let digitLabel: number;

async function savePng(pixels: Uint8Array, file: string): Promise<string> {
  await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(file);
  return file;
}

beforeAll(async () => {
  await useBackend('wasm');
  if (!existsSync(join(webDist, 'index.html'))) {
    const r = spawnSync('npx', ['vite', 'build', '--config', join(root, 'web', 'vite.config.ts'), '--logLevel', 'warn'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vite build failed:\n${r.stderr}`);
  }
  mkdirSync(artifacts, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'trustgc-e2e-'));
  const mnist = await loadDataset('mnist', 'test');
  const fashion = await loadDataset('fashion-mnist', 'test');
  digitLabel = mnist.labels[0];
  digitPng = await savePng(mnist.pixels.subarray(0, 784), join(dir, 'mnist-test-0.png'));
  fashionPng = await savePng(fashion.pixels.subarray(0, 784), join(dir, 'fashion-test-0.png'));
  app = await buildServer({ modelDir: MODEL, explorerDir: webDist });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({ executablePath: await chromiumPath(), args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

async function openExplorer(query = ''): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1100 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/${query}`);
  await page.waitForSelector('[data-testid=status][data-ready=true]', { timeout: 60_000 });
  return { page, errors };
}

/** Uploads a file and waits for the full result (the heatmaps come last). */
async function upload(page: Page, file: string): Promise<{ verdict: string | null; sentence: string }> {
  const shown = await page.$('[data-testid=result]');
  const before = shown ? Number(await shown.getAttribute('data-run')) : 0;
  await page.setInputFiles('[data-testid=file-input]', file);
  await page.waitForSelector(`[data-testid=result][data-run="${before + 1}"][data-complete=true]`, { timeout: 60_000 });
  return { verdict: await page.getAttribute('[data-testid=verdict]', 'data-verdict'), sentence: (await page.textContent('[data-testid=sentence]')) ?? '' };
}

/** Share of a canvas's pixels that are not black (heatmaps and previews must show something). */
function litFraction(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 30) lit++;
    return lit / (d.length / 4);
  });
}

describe('browser explorer (Chromium)', () => {
  it('classifies an MNIST digit in the page as in distribution and draws every figure', async () => {
    const { page, errors } = await openExplorer();
    expect(await page.textContent('[data-testid=status]')).toMatch(/tiny-mnist generative classifier · 10 classes · 694,426 parameters · computed by tfjs (wasm|cpu)/);
    const r = await upload(page, digitPng);
    expect(r.verdict).toBe('in');
    expect(r.sentence).toMatch(new RegExp(`^This is ${digitLabel} \\(p = 0\\.99`));
    expect(await page.locator('[data-testid=posterior-bars] rect.bar').count()).toBe(10);
    expect(await page.locator('[data-testid=likelihood-plot] rect.hist').count()).toBe(40);
    expect(await page.locator('[data-testid=decision-space] g.class-mean').count()).toBe(5);
    expect(await page.locator('[data-testid=decision-space] [data-testid=input-point]').count()).toBe(1);
    expect(await page.locator('[data-testid=similarity-matrix] rect.cell').count()).toBe(100);
    expect(await page.locator('[data-testid=heatmap] canvas').count()).toBe(3);
    expect(await litFraction(page, '[data-testid=heatmap] canvas')).toBeGreaterThan(0.05);
    expect(await litFraction(page, '[data-testid=preview]')).toBeGreaterThan(0.05);
    await page.screenshot({ path: join(artifacts, 'explorer-in-distribution.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('flags a Fashion-MNIST image as out of distribution', async () => {
    const { page, errors } = await openExplorer();
    const r = await upload(page, fashionPng);
    expect(r.verdict).toBe('ood');
    expect(r.sentence).toMatch(/^This is neither/);
    expect(await page.textContent('[data-testid=verdict]')).toMatch(/out of distribution \(p = [0-9.e-]+ < 0\.01\)/);
    await page.screenshot({ path: join(artifacts, 'explorer-out-of-distribution.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('classifies a digit drawn with the mouse', async () => {
    const { page, errors } = await openExplorer();
    const pad = (await page.locator('[data-testid=draw-pad]').boundingBox())!;
    // a "1": one vertical stroke
    await page.mouse.move(pad.x + 140, pad.y + 40);
    await page.mouse.down();
    for (let y = 40; y <= 240; y += 10) await page.mouse.move(pad.x + 140 + (y - 40) / 40, pad.y + y);
    await page.mouse.up();
    await page.waitForSelector('[data-testid=result][data-complete=true]', { timeout: 60_000 });
    expect(await page.textContent('[data-testid=sentence]')).toMatch(/\b1\b/);
    expect(await page.textContent('[data-testid=posterior-bars] text')).toBe('1');
    await page.screenshot({ path: join(artifacts, 'explorer-drawing.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('gives the same answers when the page asks the HTTP API instead (mode=server)', async () => {
    const browserSide = await openExplorer();
    const inPage = await upload(browserSide.page, digitPng);
    const bitsInPage = await browserSide.page.textContent('small.figures');
    await browserSide.page.close();
    const { page, errors } = await openExplorer('?mode=server');
    expect(await page.textContent('[data-testid=status]')).toMatch(/computed by server API/);
    const viaApi = await upload(page, digitPng);
    expect(viaApi).toEqual(inPage);
    // the same figures to the printed precision (tfjs wasm in Chromium vs. the server's engine)
    expect(await page.textContent('small.figures')).toBe(bitsInPage);
    const oodViaApi = await upload(page, fashionPng);
    expect(oodViaApi.verdict).toBe('ood');
    expect(errors).toEqual([]);
    await page.close();
  });
});
