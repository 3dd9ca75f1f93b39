import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, useBackend } from './helpers.js';
import { onnxAvailable } from '../src/onnx/runtime.js';
import { buildServer } from '../src/serve/server.js';
import { loadMnist } from '../src/data/mnist.js';
import { DEFAULT_TRAIN_OPTIONS, train } from '../src/train/trainer.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const run = runCli;

describe('command line', () => {
  it('info prints the official parameter count of the MNIST model', async () => {
    const r = await run(['info', '--arch', 'ibinn-mnist']);
    expect(r.error).toBeUndefined();
    expect(r.out).toMatch(/parameters\s+3,770,634/);
    expect(r.out).toMatch(/CONV_1_0 … CONV_1_23, DOWN_1/);
  });

  it('bad arguments give clear errors', async () => {
    expect((await run(['train', '--arch', 'resnet']).then((r) => r.error)) ?? '').toMatch(/unknown architecture "resnet"/);
    expect((await run(['train', '--beta', 'high']).then((r) => r.error)) ?? '').toMatch(/beta must be a number/);
    expect((await run(['train', '--optimizer', 'lbfgs']).then((r) => r.error)) ?? '').toMatch(/unknown optimizer "lbfgs"/);
    expect((await run(['train', '--dropout', '0.5']).then((r) => r.error)) ?? '').toMatch(/dropout must be preset or off, got "0.5"/);
    expect((await run(['eval', '--model', 'x', '--split', 'val']).then((r) => r.error)) ?? '').toMatch(/split must be test or train, got "val"/);
    const dir = mkdtempSync(join(tmpdir(), 'gc-cli-'));
    expect((await run(['train', '--dataset', 'imagenet', '--out', dir]).then((r) => r.error)) ?? '').toMatch(/unknown dataset "imagenet"/);
    expect((await run(['train', '--dataset', 'fashion-mnist', '--arch', 'tiny-rgb32', '--out', join(dir, 'rgb')]).then((r) => r.error)) ?? '').toMatch(/has 28×28×1 images, model tiny-rgb32 expects 32×32×3/);
    expect((await run(['eval', '--model', join(dir, 'none')]).then((r) => r.error)) ?? '').toMatch(/model folder .*none does not exist/);
    expect((await run(['train', '--resume', '--out', join(dir, 'none')]).then((r) => r.error)) ?? '').toMatch(/cannot resume: no checkpoint/);
  });

  it('--resume keeps the stored number of epochs unless --epochs is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-cli-resume-'));
    const common = ['--out', dir];
    expect((await run(['train', '--arch', 'tiny-mnist', '--epochs', '2', '--steps', '1', '--batch-size', '8', '--train-limit', '16', '--eval-every', '0', '--test-limit', '8', ...common])).error).toBeUndefined();
    expect((await run(['train', '--resume', '--steps', '3', ...common])).error).toBeUndefined();
    const { loadSafetensors } = await import('../src/io/safetensors.js');
    const state = JSON.parse(loadSafetensors(join(dir, 'checkpoint.safetensors')).metadata.state);
    expect(state).toMatchObject({ step: 3, epoch: 1, batchInEpoch: 1, finished: false });
  });

  it('train then eval through the CLI (JSON output)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-cli-run-'));
    const t = await run(['train', '--arch', 'tiny-mnist', '--dropout', 'off', '--steps', '2', '--batch-size', '8', '--train-limit', '16', '--epochs', '1', '--out', dir, '--eval-every', '0', '--test-limit', '20']);
    expect(t.error).toBeUndefined();
    // the dropout choice is part of the model (config.json) and of the recorded training options
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).dropout).toBe('off');
    expect(JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')).dropout).toBe('off');
    const r = await run(['eval', '--model', dir, '--dataset', 'mnist', '--limit', '40', '--json']);
    expect(r.error, r.error).toBeUndefined();
    const result = JSON.parse(r.out);
    expect(result.images).toBe(40);
    // a fraction of 40 images: a whole number of correct ones
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(result.accuracy).toBeLessThanOrEqual(1);
    expect(Math.abs(result.accuracy * 40 - Math.round(result.accuracy * 40))).toBeLessThan(1e-6);
    expect(Number.isFinite(result.bitsPerDim)).toBe(true);
    const fit = await run(['eval', '--model', dir, '--dataset', 'mnist', '--split', 'train', '--limit', '24', '--json']);
    expect(fit.error, fit.error).toBeUndefined();
    expect(JSON.parse(fit.out)).toMatchObject({ dataset: 'mnist-train', images: 24 });
    // ONNX export, then the same evaluation on onnxruntime
    if (!(await onnxAvailable())) return;
    const e = await run(['export-onnx', '--model', dir, '--batch', '16']);
    expect(e.error, e.error).toBeUndefined();
    expect(e.out).toMatch(/wrote .*model\.onnx/);
    expect(e.out).toMatch(/onnxruntime vs tfjs on 8 random images: .* — equal/);
    const o = await run(['eval', '--model', dir, '--dataset', 'mnist', '--limit', '40', '--json', '--engine', 'onnx']);
    expect(o.error, o.error).toBeUndefined();
    const onnx = JSON.parse(o.out);
    expect(onnx.accuracy).toBe(result.accuracy);
    expect(Math.abs(onnx.bitsPerDim - result.bitsPerDim)).toBeLessThan(1e-4 * Math.abs(result.bitsPerDim));
    expect((await run(['eval', '--model', dir, '--engine', 'gpu'])).error ?? '').toMatch(/unknown engine "gpu"/);
  });
});

describe('an unfinished run is a model folder', () => {
  /** main's runCli (exit code, the "model weights" line) with stdout and stderr captured */
  async function runMain(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const { runCli: runMainCli } = await import('../src/cli/main.js');
    const out: string[] = [];
    const err: string[] = [];
    const log = console.log;
    const error = console.error;
    console.log = (...a: unknown[]) => out.push(a.join(' '));
    console.error = (...a: unknown[]) => err.push(a.join(' '));
    try {
      const code = await runMainCli(['node', 'trustgc', ...args], { throwOnError: true });
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      console.log = log;
      console.error = error;
    }
  }

  it('stopped by --steps or by a stop request (Ctrl-C): eval, predict, export-onnx and serve take it and name the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gc-cli-unfinished-'));
    const t = await runMain(['train', '--arch', 'tiny-mnist', '--steps', '2', '--batch-size', '8', '--train-limit', '64', '--epochs', '1', '--eval-every', '0', '--out', dir]);
    expect(t.code, t.err).toBe(0);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false); // not finished: only the checkpoint
    const named = /model weights: .*checkpoint\.safetensors \(unfinished run: epoch 0, step 2/;
    const ev = await runMain(['eval', '--model', dir, '--limit', '16', '--json']);
    expect(ev.code, ev.err).toBe(0);
    expect(ev.err).toMatch(named);
    expect(JSON.parse(ev.out).images).toBe(16);
    const png = join(dir, 'digit.png');
    const mnist = loadMnist('test');
    await sharp(Buffer.from(mnist.pixels.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
    const pr = await runMain(['predict', '--model', dir, png, '--json']);
    expect(pr.code, pr.err).toBe(0);
    expect(pr.err).toMatch(named);
    expect(JSON.parse(pr.out)[0].top).toHaveLength(5);
    const ex = await runMain(['export-onnx', '--model', dir, '--batch', '4', '--no-verify', '--out', join(dir, 'x.onnx')]);
    expect(ex.code, ex.err).toBe(0);
    expect(ex.err).toMatch(named);
    const app = await buildServer({ modelDir: dir });
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/png' }, payload: readFileSync(png) });
      expect(res.statusCode, res.body).toBe(200);
    } finally {
      await app.close();
    }
    // a stop request (what Ctrl-C sets) ends the run the same way
    const stopped = mkdtempSync(join(tmpdir(), 'gc-cli-stopped-'));
    let steps = 0;
    const result = await train(
      { ...DEFAULT_TRAIN_OPTIONS, dataset: 'mnist', arch: 'tiny-mnist', batchSize: 8, trainLimit: 64, epochs: 1, evalEveryEpochs: 0, outDir: stopped },
      { onStep: () => void steps++, shouldStop: () => steps >= 3 },
    );
    result.model.dispose();
    expect(result.stoppedEarly).toBe(true);
    const ev2 = await runMain(['eval', '--model', stopped, '--limit', '8']);
    expect(ev2.code, ev2.err).toBe(0);
    expect(ev2.err).toMatch(/model weights: .*checkpoint\.safetensors \(unfinished run: epoch 0, step 3/);
  });
});

describe('public API', () => {
  it('the package entry exports the main building blocks', async () => {
    const api = await import('../src/index.js');
    for (const name of ['initEngine', 'GenerativeClassifier', 'AffineCouplingBlock', 'train', 'evaluate', 'loadModel', 'loadDataset', 'exportOnnx', 'OnnxClassifier', 'engineInfo', 'importOfficialCheckpoint', 'calibration', 'oodEvaluation', 'DiscriminativeClassifier', 'evaluateClassFolder']) {
      expect(api, name).toHaveProperty(name);
    }
  });
});
