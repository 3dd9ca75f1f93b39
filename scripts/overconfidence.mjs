#!/usr/bin/env node
// Why overconfidence (OCE) falls with β in the β-sweeps (the paper: rises). For every sweep model on the
// whole test set: the share of images it classifies with more than 99.7 % confidence (the OCE threshold),
// the error rate among them, the OCE, and the median gap between the two largest logits.
// Needs `npm run build` and a finished sweep.
// Usage: node scripts/overconfidence.mjs <dataset>=experiments/<sweep> [...]  → bench/results/overconfidence.{md,json}
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../dist/src/engine/backend.js';
import { loadModel } from '../dist/src/io/checkpoint.js';
import { loadDataset } from '../dist/src/data/registry.js';
import { evalBatches } from '../dist/src/data/batches.js';
import { calibration, OCE_THRESHOLD } from '../dist/src/eval/calibration.js';
import { median, spearmanWithBeta, sweepArguments, SWEEP_MODELS, writeAnalysis } from './sweep-analysis.mjs';

const sweeps = sweepArguments('overconfidence.mjs');
await initEngine();
const out = {};
const md = [
  '# Overconfidence against the models\' logit gaps',
  '',
  `Command: \`node scripts/overconfidence.mjs ${process.argv.slice(2).join(' ')}\`. For each β-sweep model on the whole test set: the share of images classified with confidence above ${100 * (1 - OCE_THRESHOLD)} % (the OCE threshold), the number and rate of errors among those, the OCE (that error rate / ${OCE_THRESHOLD}; IB-INN convention), the accuracy, and the median gap between the largest and second-largest logit.`,
  '',
];
for (const [dataset, sweep] of sweeps) {
  const ds = await loadDataset(dataset, 'test');
  const rows = [];
  for (const name of SWEEP_MODELS) {
    const model = loadModel(join(sweep, 'models', name));
    const classes = model.classes;
    const probs = [];
    const labels = [];
    const gaps = [];
    for (const batch of evalBatches(ds, 500)) {
      const x = tf.tensor4d(batch.x, [batch.size, ds.height, ds.width, ds.channels]);
      const r = await model.infer(x);
      probs.push(r.posterior.dataSync().slice());
      const top2 = tf.tidy(() => tf.topk(r.logits, 2).values.dataSync());
      for (let i = 0; i < batch.size; i++) gaps.push(top2[2 * i] - top2[2 * i + 1]);
      labels.push(...batch.labels);
      tf.dispose([x, ...Object.values(r)]);
    }
    const p = new Float32Array(labels.length * classes);
    let o = 0;
    for (const chunk of probs) { p.set(chunk, o); o += chunk.length; }
    let confident = 0, wrong = 0, correct = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (p[i * classes + c] > p[i * classes + best]) best = c;
      if (best === labels[i]) correct++;
      if (p[i * classes + best] > 1 - OCE_THRESHOLD) { confident++; if (best !== labels[i]) wrong++; }
    }
    const cal = calibration(p, labels, classes, 'ibinn');
    rows.push({ model: name, accuracy: 100 * correct / labels.length, confidentShare: 100 * confident / labels.length, confidentWrong: wrong, errorAmongConfident: confident ? 100 * wrong / confident : null, oce: Number.isNaN(cal.oce) ? null : cal.oce, medianLogitGap: median(gaps) });
    model.dispose();
  }
  out[dataset] = { sweep, images: ds.labels.length, rows, spearmanWithBeta: spearmanWithBeta(rows, ['confidentShare', 'errorAmongConfident', 'oce', 'medianLogitGap']) };
  const s = out[dataset].spearmanWithBeta;
  const f = (v, d) => (v === null || Number.isNaN(v) ? '–' : v.toFixed(d));
  md.push(`## ${dataset} (${sweep})`, '', '| model | accuracy % | images > 99.7 % confident, % | wrong among them (images) | error among them, % | OCE | median top-2 logit gap |', '|---|---|---|---|---|---|---|');
  for (const r of rows) md.push(`| ${r.model} | ${f(r.accuracy, 2)} | ${f(r.confidentShare, 1)} | ${r.confidentWrong} | ${f(r.errorAmongConfident, 2)} | ${f(r.oce, 2)} | ${f(r.medianLogitGap, 2)} |`);
  md.push('', `Spearman ρ with β over the GCs: share above 99.7 % ${f(s.confidentShare, 2)}, error among them ${f(s.errorAmongConfident, 2)}, OCE ${f(s.oce, 2)}, median logit gap ${f(s.medianLogitGap, 2)}.`, '');
  console.error(`${dataset}: done`);
}
writeAnalysis('overconfidence', out, md);
