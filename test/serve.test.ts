import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { tf, useBackend } from './helpers.js';
import { GenerativeClassifier } from '../src/gc/model.js';
import { createClassifier } from '../src/gc/factory.js';
import { defaultConfig } from '../src/gc/presets.js';
import { saveModel } from '../src/io/checkpoint.js';
import { makeReference, saveReference } from '../src/eval/ood_reference.js';
import { analyzeBatch } from '../src/explain/analyze.js';
import { integratedGradients } from '../src/explain/attribution.js';
import { buildServer } from '../src/serve/server.js';
import { Batcher, QueueFullError } from '../src/serve/batcher.js';
import { MersenneTwister } from '../src/util/rng.js';

const DIGITS = Array.from({ length: 10 }, (_, i) => String(i));
const rng = new MersenneTwister(11);

/** A "digit": black background, one bright stroke (what the reference is made of). */
function strokeImage(k: number): Uint8Array {
  const img = new Uint8Array(28 * 28);
  const col = 8 + (k % 12);
  for (let y = 6; y < 22; y++) for (let x = col; x < col + 3; x++) img[y * 28 + x] = 230;
  return img;
}
const noiseImage = () => Uint8Array.from({ length: 28 * 28 }, () => Math.floor(rng.uniform() * 256));
const greyPng = (px: Uint8Array) => sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toBuffer();

let dir: string;
let dcDir: string;
let app: FastifyInstance;
let model: GenerativeClassifier;

beforeAll(async () => {
  await useBackend('wasm');
  dir = mkdtempSync(join(tmpdir(), 'trustgc-serve-'));
  model = createClassifier(defaultConfig('tiny-mnist', DIGITS)) as GenerativeClassifier;
  saveModel(dir, model);
  // reference: L_X of stroke images under this (untrained) model
  const n = 40;
  const x = tf.tensor4d(Float32Array.from({ length: n * 784 }, (_, i) => strokeImage(Math.floor(i / 784))[i % 784] / 255), [n, 28, 28, 1]);
  const lx = tf.tidy(() => model.infer(x).lx.dataSync() as Float32Array);
  x.dispose();
  saveReference(dir, makeReference(lx, 'stroke images'));
  dcDir = mkdtempSync(join(tmpdir(), 'trustgc-serve-dc-'));
  const dc = createClassifier({ ...defaultConfig('tiny-mnist', DIGITS), modelType: 'dc' });
  saveModel(dcDir, dc);
  dc.dispose();
  app = await buildServer({ modelDir: dir, maxBytes: 64 * 1024, heatmapSteps: 16 });
});

afterAll(async () => {
  await app?.close();
  model?.dispose();
});

const post = (url: string, body: Buffer | string, type = 'image/png') => app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': type } });

function multipartBody(field: string, file: Buffer, filename = 'x.png'): { body: Buffer; type: string } {
  const b = '----trustgc' + Math.floor(rng.uniform() * 1e9);
  const head = `--${b}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: image/png\r\n\r\n`;
  return { body: Buffer.concat([Buffer.from(head), file, Buffer.from(`\r\n--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

describe('HTTP API', () => {
  it('predicts exactly what the library computes, from raw bytes and from multipart', async () => {
    const png = await greyPng(strokeImage(3));
    const raw = await post('/v1/predict?top=3', png);
    expect(raw.statusCode).toBe(200);
    const a = raw.json();
    const x = tf.tensor4d(Float32Array.from(strokeImage(3), (v) => v / 255), [1, 28, 28, 1]);
    const direct = analyzeBatch(model, x, null, { topK: 3 })[0];
    x.dispose();
    expect(a.top.map((t: { class: number }) => t.class)).toEqual(direct.top.map((t) => t.class));
    a.posterior.forEach((p: number, i: number) => expect(p).toBeCloseTo(direct.posterior[i], 5));
    expect(a.lx).toBeCloseTo(direct.lx, 4);
    expect(a.bitsPerDim).toBeCloseTo(direct.bitsPerDim, 4);
    expect(a.ood.outOfDistribution).toBe(false);
    expect(a.explanation.sentence).toMatch(/This is|This could|I am not sure|neither/);
    const mp = multipartBody('image', png);
    const viaForm = await post('/v1/predict?top=3', mp.body, mp.type);
    expect(viaForm.statusCode).toBe(200);
    expect(viaForm.json().lx).toBeCloseTo(a.lx, 6);
  });

  it('flags an image unlike the reference as out of distribution, at the requested level', async () => {
    const png = await greyPng(noiseImage());
    // 40 reference images: the most extreme attainable two-tailed p-value is 2/41
    const r = (await post('/v1/predict?alpha=0.1', png)).json();
    expect(r.ood.twoTailed).toBeCloseTo(2 / 41, 6);
    expect(r.ood.outOfDistribution).toBe(true);
    expect(r.explanation.case).toBe('ood');
    // at the default level (0.01) the same p-value is not significant
    const strict = (await post('/v1/predict', png)).json();
    expect(strict.ood.alpha).toBe(0.01);
    expect(strict.ood.outOfDistribution).toBe(false);
    expect(strict.explanation.case).not.toBe('ood');
  });

  it('batches concurrent requests into shared forward passes with per-request answers', async () => {
    const pngs = await Promise.all(Array.from({ length: 12 }, (_, k) => greyPng(strokeImage(k))));
    const before = (await app.inject('/healthz')).json().queue;
    const answers = await Promise.all(pngs.map((p) => post('/v1/predict?explain=false', p)));
    const after = (await app.inject('/healthz')).json().queue;
    expect(after.items - before.items).toBe(12);
    expect(after.batches - before.batches).toBeLessThan(12);
    const single = (await post('/v1/predict', pngs[5])).json();
    expect(answers[5].json().lx).toBeCloseTo(single.lx, 4);
    expect(answers[5].json().explanation).toBeNull();
  });

  it('answers bad input with a 4xx JSON error naming the problem', async () => {
    const png = await greyPng(strokeImage(1));
    const colour = await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toBuffer();
    const cases: Array<[string, Promise<{ statusCode: number; json(): { error: { code: string; message: string } } }>, number, RegExp]> = [
      ['empty', post('/v1/predict', Buffer.alloc(0)), 400, /empty/],
      ['not an image', post('/v1/predict', Buffer.from('hello, not a picture')), 415, /not an image/],
      ['truncated', post('/v1/predict', png.subarray(0, png.length - 20)), 400, /truncated or corrupt/],
      ['colour for a grey model', post('/v1/predict', colour), 422, /3 colour channels.*takes 1/],
      ['too large', post('/v1/predict', Buffer.alloc(70 * 1024, 1), 'application/octet-stream'), 413, /larger than/],
      ['json body', post('/v1/predict', '{"image": 1}', 'application/json'), 415, /send an image/],
      ['bad alpha', post('/v1/predict?alpha=2', png), 400, /alpha/],
      ['unknown parameter', post('/v1/predict?colour=1', png), 400, /must NOT have additional properties/],
      ['broken multipart', post('/v1/predict', Buffer.concat([Buffer.from('--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\n'), png.subarray(0, 40)]), 'multipart/form-data; boundary=b'), 400, /multipart body is malformed/],
      ['no file field', post('/v1/predict', multipartBody('other', Buffer.alloc(0)).body.subarray(0, 0), 'multipart/form-data; boundary=x'), 400, /./],
    ];
    for (const [what, pending, status, message] of cases) {
      const r = await pending;
      expect(r.statusCode, what).toBe(status);
      expect(r.json().error.message, what).toMatch(message);
    }
    expect((await post('/v1/predict?convert=true', colour)).statusCode).toBe(200);
    expect((await app.inject('/nope')).statusCode).toBe(404);
  });

  it('survives a fuzz run of malformed uploads without leaking tensors', async () => {
    const png = await greyPng(strokeImage(2));
    const tensorsBefore = (await app.inject('/healthz')).json().tensors;
    const fuzz = new MersenneTwister(5);
    const statuses = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const body = Buffer.from(png);
      const kind = i % 3;
      if (kind === 0) for (let k = 0; k < 8; k++) body[Math.floor(fuzz.uniform() * body.length)] = Math.floor(fuzz.uniform() * 256);
      const payload = kind === 1 ? body.subarray(0, Math.floor(fuzz.uniform() * body.length)) : kind === 2 ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(fuzz.uniform() * 256))) : body;
      const r = await post('/v1/predict', payload);
      statuses.add(r.statusCode);
      expect(r.statusCode).toBeLessThan(500);
    }
    expect([...statuses].some((s) => s >= 400)).toBe(true);
    expect((await app.inject('/healthz')).json().tensors).toBe(tensorsBefore);
  });

  it('explains: decision space and per-class heatmaps (as JSON maps and a PNG), without leaking tensors', async () => {
    const tensorsBefore = (await app.inject('/healthz')).json().tensors;
    const r = await post('/v1/explain', await greyPng(strokeImage(4)));
    expect((await app.inject('/healthz')).json().tensors).toBe(tensorsBefore);
    expect(r.statusCode).toBe(200);
    const e = r.json();
    expect(e.decisionSpace.classes).toHaveLength(5);
    expect(e.heatmap.method).toBe('integrated-gradients');
    expect(e.heatmap.maps).toHaveLength(3);
    expect(e.heatmap.maps[0]).toHaveLength(28 * 28);
    const png = Buffer.from(e.heatmap.png.split(',')[1], 'base64');
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(200);
    const dc = await buildServer({ modelDir: dcDir });
    const refused = await dc.inject({ method: 'POST', url: '/v1/explain', payload: await greyPng(strokeImage(4)), headers: { 'content-type': 'image/png' } });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.message).toMatch(/generative/);
    const dcPredict = (await dc.inject({ method: 'POST', url: '/v1/predict', payload: await greyPng(strokeImage(4)), headers: { 'content-type': 'image/png' } })).json();
    expect(dcPredict.ood).toBeNull();
    await dc.close();
  });

  it('serves the model card, the model files and an OpenAPI description', async () => {
    const card = (await app.inject('/v1/model')).json();
    expect(card.arch).toBe('tiny-mnist');
    expect(card.parameters).toBe(model.countParams().total);
    expect(card.oodReference.images).toBe(40);
    const api = (await app.inject('/openapi.json')).json();
    expect(Object.keys(api.paths)).toEqual(expect.arrayContaining(['/v1/predict', '/v1/explain', '/v1/model', '/healthz']));
    expect((await app.inject('/model/config.json')).json().arch).toBe('tiny-mnist');
    expect((await app.inject('/model/model.safetensors')).rawPayload.length).toBeGreaterThan(1000);
  });
});

describe('integrated-gradient heatmaps', () => {
  // Both checks have tolerances derived from the computation, not from one run's numbers: float32
  // noise can make a finer path look worse than a coarse one, so no test compares two paths.
  const EPS32 = 2 ** -23;
  const STEPS = 256;
  const CHUNK = 64;

  /** f'(α) = Σ_p x_p ∂ log q(y|αx)/∂x_p at the path's midpoints, summed in float64. */
  function pathDerivatives(x: tf.Tensor4D, y: number) {
    const logPost = (xs: tf.Tensor4D) => tf.logSoftmax(model.logits(model.latent(xs).z, true));
    const g = tf.grad((xs: tf.Tensor) => tf.sum(tf.slice(logPost(xs as tf.Tensor4D), [0, y], [-1, 1])));
    const xv = x.dataSync();
    const derivative: number[] = [];
    let absSum = 0; // Σ_k Σ_p |x_p g_kp|: the float32 accumulation's error is proportional to it
    for (let start = 0; start < STEPS; start += CHUNK) {
      const grads = tf.tidy(() => {
        const alphas = tf.tensor4d(Float32Array.from({ length: CHUNK }, (_, j) => (start + j + 0.5) / STEPS), [CHUNK, 1, 1, 1]);
        return g(tf.mul(alphas, x) as tf.Tensor4D).dataSync();
      });
      for (let j = 0; j < CHUNK; j++) {
        let d = 0;
        for (let p = 0; p < xv.length; p++) {
          d += xv[p] * grads[j * xv.length + p];
          absSum += Math.abs(xv[p] * grads[j * xv.length + p]);
        }
        derivative.push(d);
      }
    }
    return { derivative, absSum };
  }

  it("sum to the midpoint rule of d/dα log q(y|αx), and to log q(y|x) − log q(y|0) within the rule's error bound", () => {
    const x = tf.tensor4d(Float32Array.from(strokeImage(6), (v) => v / 255), [1, 28, 28, 1]);
    const ig = integratedGradients(model, x, 2, STEPS, CHUNK);
    for (let i = 0; i < 2; i++) {
      const { derivative, absSum } = pathDerivatives(x, ig.classes[i]);
      const total = ig.maps[i].reduce((a, v) => a + v, 0);
      // 1. the map is the midpoint sum (1/K) Σ_k f'(α_k): a float32 sum of K gradients per pixel errs by
      //    at most K·ε relative to the summed magnitudes (worst case), and the sum is divided by K
      const midpoint = derivative.reduce((a, v) => a + v, 0) / STEPS;
      const accumulation = EPS32 * absSum + 1e-7;
      expect(Math.abs(total - midpoint)).toBeLessThanOrEqual(accumulation);
      // 2. completeness: the midpoint rule for the integral of f' over [0, 1] errs by at most
      //    max|f'''| / (24 K²); f''' is estimated from second differences of f' S grid points apart
      //    (f''' ≈ Δ²f' / (S/K)², so the bound is max|Δ²f'| / (24 S²); S = 8 keeps float noise in f' from
      //    swamping it), doubled as a margin for that estimate; plus the float32 rounding of the two
      //    log-posteriors
      const S = 8;
      let maxSecondDiff = 0;
      for (let k = S; k + S < STEPS; k++) maxSecondDiff = Math.max(maxSecondDiff, Math.abs(derivative[k + S] - 2 * derivative[k] + derivative[k - S]));
      const rule = (2 * maxSecondDiff) / (24 * S * S);
      const exact = ig.logPosterior[i] - ig.baselineLogPosterior![i];
      const rounding = 8 * EPS32 * (Math.abs(ig.logPosterior[i]) + Math.abs(ig.baselineLogPosterior![i]) + 1);
      expect(Math.abs(total - exact)).toBeLessThanOrEqual(rule + rounding + accumulation);
      expect(ig.completenessError![i]).toBeCloseTo(total - exact, 6);
    }
    x.dispose();
  });
});

describe('request batcher', () => {
  it('runs queued items in batches, keeps order, and refuses work beyond its queue', async () => {
    const seen: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      seen.push(items);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((v) => v * 2);
    }, { maxBatch: 4, maxQueue: 6, waitMs: 1 });
    const accepted = Array.from({ length: 6 }, (_, i) => b.submit(i));
    await expect(b.submit(99)).rejects.toBeInstanceOf(QueueFullError);
    expect(await Promise.all(accepted)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(seen.map((s) => s.length)).toEqual([4, 2]);
    expect(b.stats.rejected).toBe(1);
  });

  it('rejects every item of a failing batch and keeps serving', async () => {
    let fail = true;
    const b = new Batcher<number, number>((items) => {
      if (fail) throw new Error('boom');
      return items;
    }, { maxBatch: 8, maxQueue: 8, waitMs: 0 });
    await expect(b.submit(1)).rejects.toThrow('boom');
    fail = false;
    expect(await b.submit(2)).toBe(2);
  });
});
