import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli, useBackend } from './helpers.js';
import { cropSpec, imageCrops, resizedSize } from '../src/data/crops.js';
import { parseClassIndex } from '../src/data/class_index.js';
import { makeReference, pValues } from '../src/eval/ood_reference.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'torch');

beforeAll(async () => {
  await useBackend('wasm');
});

const run = runCli;

/** An image whose pixel (x, y) has value (x + 3y) mod 256 in every channel, losslessly stored. */
async function gradientPng(file: string, w: number, h: number): Promise<void> {
  const buf = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) buf.fill((x + 3 * y) % 256, (y * w + x) * 3, (y * w + x) * 3 + 3);
  await sharp(buf, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
}

describe('ImageNet-style preprocessing', () => {
  it('resizes the shorter side like torchvision and takes TenCrop in its order', async () => {
    expect(resizedSize(500, 375, 256)).toEqual([341, 256]);
    expect(resizedSize(375, 500, 256)).toEqual([256, 341]);
    expect(cropSpec(224, 10).resize).toBe(256);
    expect(cropSpec(32, 1).resize).toBe(37);
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-crops-'));
    // already at the resize target (shorter side 37): resizing is the identity, so crops are exact
    await gradientPng(join(dir, 'g.png'), 45, 37);
    const crops = await imageCrops(join(dir, 'g.png'), cropSpec(32, 10));
    const px = (crop: number, x: number, y: number) => crops[((crop * 32 + y) * 32 + x) * 3];
    const src = (x: number, y: number) => (x + 3 * y) % 256;
    expect(px(0, 0, 0)).toBe(src(0, 0)); // top-left
    expect(px(1, 0, 0)).toBe(src(13, 0)); // top-right starts at 45 − 32
    expect(px(2, 0, 0)).toBe(src(0, 5)); // bottom-left starts at row 37 − 32
    expect(px(3, 31, 31)).toBe(src(44, 36)); // bottom-right ends at the last pixel
    expect(px(4, 0, 0)).toBe(src(6, 2)); // centre: round(13/2) = 6 (half to even), round(5/2) = 2
    expect(px(5, 0, 0)).toBe(src(44, 0)); // mirrored top-left = original top-right corner
    expect(px(9, 0, 0)).toBe(src(44 - 6, 2)); // mirrored centre
    const one = await imageCrops(join(dir, 'g.png'), cropSpec(32, 1));
    expect(Array.from(one)).toEqual(Array.from(crops.subarray(4 * 32 * 32 * 3, 5 * 32 * 32 * 3)));
    await expect(imageCrops(join(dir, 'nope.png'), cropSpec(32, 1))).rejects.toThrow(/cannot read image .*nope\.png/);
  });

  it('reads class-index files in the common formats and rejects bad ones', () => {
    expect(parseClassIndex('{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}')).toEqual({ ids: ['n01440764', 'n01443537'], names: ['tench', 'goldfish'] });
    expect(parseClassIndex('n01440764 tench\nn01443537 goldfish, Carassius auratus\n')).toEqual({ ids: ['n01440764', 'n01443537'], names: ['tench', 'goldfish, Carassius auratus'] });
    expect(parseClassIndex('["a", "b"]').ids).toEqual(['a', 'b']);
    expect(() => parseClassIndex('a\na')).toThrow(/lists class "a" twice/);
    expect(() => parseClassIndex('{"1": ["a", "b"]}')).toThrow(/"0" is missing/);
  });

  it('OoD p-values: one-tailed, two-tailed quantile and typicality', () => {
    const ref = makeReference(Array.from({ length: 99 }, (_, i) => i + 1), 'test'); // L_X 1…99
    const mid = pValues(ref, 50);
    expect(mid.twoTailed).toBe(1);
    expect(mid.oneTailed).toBeCloseTo(51 / 100, 10); // 50…99 are at least as unlikely
    const far = pValues(ref, 1000); // far less likely than every reference image
    expect(far.oneTailed).toBeCloseTo(1 / 100, 10);
    expect(far.twoTailed).toBeCloseTo(2 / 100, 10);
    expect(far.typicality).toBeCloseTo(1 / 100, 10);
    const tooLikely = pValues(ref, -5); // suspiciously likely: only the two-sided tests flag it
    expect(tooLikely.oneTailed).toBe(1);
    expect(tooLikely.twoTailed).toBeCloseTo(2 / 100, 10);
  });
});

describe('import, predict, calibrate-ood and folder evaluation through the CLI', () => {
  it('imports the PyTorch fixture and runs it on image files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-imagenet-cli-'));
    const model = join(dir, 'model');
    writeFileSync(join(dir, 'classes.txt'), Array.from({ length: 10 }, (_, i) => `c${i} class number ${i}`).join('\n'));
    const imp = await run(['import', join(FIXTURES, 'imagenet_mini.pt'), '--arch', 'imagenet-mini', '--out', model, '--class-index', join(dir, 'classes.txt')]);
    expect(imp.error).toBeUndefined();
    expect(imp.out).toMatch(/124 tensors imported, 32 skipped/);
    expect(imp.out).toMatch(/56,000 parameters, 10 classes, mixing stored as indices/);
    for (const [cls, i] of [['c3', 1], ['c3', 2], ['c7', 3], ['c7', 4]] as const) {
      mkdirSync(join(dir, 'val', cls), { recursive: true });
      await gradientPng(join(dir, 'val', cls, `img${i}.png`), 40 + 5 * i, 48 - i);
    }
    const file = join(dir, 'val', 'c3', 'img1.png');
    const before = await run(['predict', '--model', model, file, '--json']);
    expect(before.error).toBeUndefined();
    const [p] = JSON.parse(before.out);
    expect(p.top).toHaveLength(5);
    expect(p.top[0].name).toMatch(/^class number \d$/);
    expect(p.top[0].id).toMatch(/^c\d$/);
    expect(p.top.reduce((s: number, t: { probability: number }) => s + t.probability, 0)).toBeLessThanOrEqual(1 + 1e-6);
    expect(p.ood).toBeUndefined();
    const cal = await run(['calibrate-ood', '--model', model, '--data', join(dir, 'val')]);
    expect(cal.error).toBeUndefined();
    expect(existsSync(join(model, 'ood_reference.json'))).toBe(true);
    const after = await run(['predict', '--model', model, file, '--crops', '10']);
    expect(after.error).toBeUndefined();
    expect(after.out).toMatch(/OoD: (in distribution|OUT OF DISTRIBUTION) \(two-tailed p = /);
    const ev = await run(['eval', '--model', model, '--data', join(dir, 'val'), '--crops', '10', '--json']);
    expect(ev.error).toBeUndefined();
    const r = JSON.parse(ev.out);
    expect(r.images).toBe(4);
    expect(r.crops).toBe(10);
    expect(r.top5).toBeGreaterThanOrEqual(r.top1);
    // a folder that is not one of the model's classes is named
    mkdirSync(join(dir, 'val', 'zebra'));
    expect((await run(['eval', '--model', model, '--data', join(dir, 'val')])).error).toMatch(/class folder "zebra"/);
    expect((await run(['predict', '--model', model, join(dir, 'missing.jpg')])).error).toMatch(/cannot read image .*missing\.jpg/);
    expect((await run(['predict', '--model', model, file, '--crops', '3'])).error).toMatch(/crops must be 1 or 10/);
  });

  it('import fails cleanly on files that are not official checkpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trustgc-imagenet-cli-'));
    expect((await run(['import', join(FIXTURES, 'tensor_zoo.pt'), '--arch', 'imagenet-mini', '--out', join(dir, 'm')])).error).toMatch(/not an official ImageNet GC checkpoint/);
    expect((await run(['import', join(FIXTURES, 'mismatched.pt'), '--arch', 'imagenet-mini', '--out', join(dir, 'm')])).error).toMatch(/1 unexpected: module_list\.99\.foo/);
    expect(existsSync(join(dir, 'm'))).toBe(false);
  });
});
