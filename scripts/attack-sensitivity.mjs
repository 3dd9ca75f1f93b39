#!/usr/bin/env node
// Why the CW perturbation of the β-sweeps rises with β (the paper: falls). For the sweep's attack samples
// (same 50 images and targets, seed 0) and every model: the clean margin to the target class
// (max_{y≠t} l_y − l_t, what the attack has to overcome, +κ), the L2 norm of its gradient with respect to
// the [0, 1] image (how fast a perturbation moves it), the first-order estimate (margin + κ) / ‖∇‖ of
// the L2 perturbation needed, and the INN's log-determinant per dimension (how much it stretches the image,
// which L_X rewards). Medians over the images. Needs `npm run build` and a finished sweep.
// Usage: node scripts/attack-sensitivity.mjs <dataset>=experiments/<sweep> [...]  → bench/results/attack-sensitivity.{md,json}
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../dist/src/engine/backend.js';
import { loadModel } from '../dist/src/io/checkpoint.js';
import { loadDataset } from '../dist/src/data/registry.js';
import { attackSamples, DEFAULT_ATTACK } from '../dist/src/attack/attack_eval.js';
import { attackOutputs, otherMax } from '../dist/src/attack/carlini_wagner.js';
import { GenerativeClassifier } from '../dist/src/gc/model.js';
import { spearman } from '../dist/src/experiment/sweep_report.js';
import { median, spearmanWithBeta, sweepArguments, SWEEP_MODELS, writeAnalysis } from './sweep-analysis.mjs';

const sweeps = sweepArguments('attack-sensitivity.mjs');
await initEngine();
const N = 50; // the sweeps' --attack-images
const KAPPA = 1;
const out = {};
const md = [
  '# CW perturbation against the models\' local sensitivity',
  '',
  `Command: \`node scripts/attack-sensitivity.mjs ${process.argv.slice(2).join(' ')}\`. For each β-sweep model and the sweep's attack samples (${N} test images, one random target each, seed ${DEFAULT_ATTACK.seed}): the CW perturbation the sweep measured (κ = ${KAPPA}, d = 0; mean per-pixel L2 in [0, 1] units), and at the clean images the margin to the target (max_{y≠t} l_y − l_t, logits), the L2 norm of its gradient with respect to the image, the first-order estimate (margin + κ) / ‖∇‖ of the L2 distance to the attack's goal, and the INN's log-determinant per dimension on the normalised image (medians over the images).`,
  '',
];
for (const [dataset, sweep] of sweeps) {
  const ds = await loadDataset(dataset, 'test');
  const { indices, targets } = attackSamples(ds, N, DEFAULT_ATTACK.seed);
  const size = ds.height * ds.width * ds.channels;
  const pixels = new Float32Array(N * size);
  indices.forEach((idx, k) => { for (let j = 0; j < size; j++) pixels[k * size + j] = ds.pixels[idx * size + j] / 255; });
  const x = tf.tensor4d(pixels, [N, ds.height, ds.width, ds.channels]);
  const t = tf.tensor1d(targets, 'int32');
  const rows = [];
  for (const name of SWEEP_MODELS) {
    const model = loadModel(join(sweep, 'models', name));
    const stored = JSON.parse(readFileSync(join(sweep, 'eval', `${name}.json`), 'utf8'));
    const margin = (xi) => {
      const logits = attackOutputs(model, xi).logits;
      return tf.sub(otherMax(logits, t), tf.sum(tf.mul(logits, tf.oneHot(t, model.classes)), 1));
    };
    // one forward and backward pass: the per-image margins are read off inside the gradient's forward
    let m0;
    const grad = tf.tidy(() => {
      const g = tf.grad((xi) => {
        const m = margin(xi);
        m0 = m.dataSync().slice();
        return tf.sum(m);
      })(x);
      return tf.sqrt(tf.sum(tf.square(g), [1, 2, 3])).dataSync();
    });
    const estimate = Array.from(m0, (m, i) => (m + KAPPA) / grad[i]);
    // how much the INN stretches its (normalised) input: log|det J| per dimension, which L_X rewards
    const logdetPerDim = model instanceof GenerativeClassifier ? median(tf.tidy(() => model.latent(x).logdet.dataSync())) / model.dims : null;
    rows.push({ model: name, perturbation: stored.attack.corruption, margin: median(m0), gradientNorm: median(grad), linearEstimate: median(estimate), logdetPerDim });
    model.dispose();
  }
  tf.dispose([x, t]);
  const gcs = rows.filter((r) => r.logdetPerDim !== null);
  const gradientVsLogdet = spearman(gcs.map((r) => r.logdetPerDim), gcs.map((r) => r.gradientNorm));
  out[dataset] = { sweep, rows, spearmanWithBeta: spearmanWithBeta(rows, ['perturbation', 'margin', 'gradientNorm', 'linearEstimate', 'logdetPerDim']), gradientVsLogdet };
  const s = out[dataset].spearmanWithBeta;
  md.push(`## ${dataset} (${sweep})`, '', '| model | CW perturbation | margin to target | ‖∇ₓ margin‖ | (margin + κ) / ‖∇‖ | log\\|det J\\| / D |', '|---|---|---|---|---|---|');
  for (const r of rows) md.push(`| ${r.model} | ${r.perturbation.toFixed(4)} | ${r.margin.toFixed(2)} | ${r.gradientNorm.toFixed(1)} | ${r.linearEstimate.toFixed(3)} | ${r.logdetPerDim === null ? '–' : r.logdetPerDim.toFixed(3)} |`);
  md.push('', `Spearman ρ with β over the GCs: perturbation ${s.perturbation.toFixed(2)}, margin ${s.margin.toFixed(2)}, gradient norm ${s.gradientNorm.toFixed(2)}, first-order estimate ${s.linearEstimate.toFixed(2)}, log-determinant ${s.logdetPerDim.toFixed(2)}. Gradient norm against log-determinant over the GCs: ρ = ${gradientVsLogdet.toFixed(2)}.`, '');
  console.error(`${dataset}: done`);
}
writeAnalysis('attack-sensitivity', out, md);
