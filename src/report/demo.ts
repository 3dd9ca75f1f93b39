/**
 * The main job's report: a shipped model evaluated on its test set and its OoD sets, compared with
 * its model card, with figures (reliability, likelihood histograms, class similarity, decision
 * spaces and heatmaps of example images). Writes report.md and a self-contained index.html.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/backend.js';
import { loadModel } from '../io/checkpoint.js';
import { loadReference } from '../eval/ood_reference.js';
import { formatCalibration } from '../eval/calibration.js';
import { formatOodTable } from '../eval/ood.js';
import { loadDataset } from '../data/registry.js';
import type { ImageDataset } from '../data/dataset.js';
import { requireGc, explainImage, modelClassSimilarity } from '../explain/explain.js';
import { integratedGradients } from '../explain/attribution.js';
import { writeReliabilityDiagrams } from '../plots/reliability.js';
import { writeScoreHistograms } from '../plots/ood_histograms.js';
import { decisionSpaceSpec, heatmapPng, similaritySpec } from '../plots/explain.js';
import { writePlot } from '../plots/render.js';
import { CARD_OOD_SETS, compareFigures, formatChecks, measureModel, readCard } from '../zoo/card.js';
import { markdownToHtml } from './html.js';

export interface DemoResult {
  accuracy: number;
  bitsPerDim: number | null;
  ece: number;
  oodAuroc: Record<string, number>;
  cardVerified: boolean | null;
  seconds: number;
  files: string[];
}

function imageOf(ds: ImageDataset, i: number): Float32Array {
  const n = ds.height * ds.width * ds.channels;
  return Float32Array.from(ds.pixels.subarray(i * n, (i + 1) * n), (v) => v / 255);
}

/** Test image whose two most probable classes are closest (the model's hardest call). */
function mostAmbiguous(probs: Float32Array, m: number, limit: number): number {
  let best = 0;
  let score = -1;
  for (let i = 0; i < limit; i++) {
    const row = Array.from(probs.subarray(i * m, (i + 1) * m)).sort((a, b) => b - a);
    if (row[1] > score) [best, score] = [i, row[1]];
  }
  return best;
}

export async function demoReport(modelDir: string, dataset: string, out: string, onPhase: (what: string) => void = () => {}): Promise<DemoResult> {
  const started = Date.now();
  mkdirSync(out, { recursive: true });
  const card = existsSync(join(modelDir, 'card.json')) ? readCard(modelDir) : null;
  const model = requireGc(loadModel(modelDir), 'the demo');
  try {
    const reference = loadReference(modelDir);
    const m = await measureModel(model, dataset, reference, card?.measurement.oodImages ?? 2000, onPhase);
    const names = model.config.classNames;
    const title = `${card?.name ?? modelDir} (${model.config.arch}, β = ${card?.beta ?? '?'})`;
    onPhase('figures');
    const files: string[] = [];
    files.push(...(await writeReliabilityDiagrams(m.calibration, out, `${title}: calibration on ${dataset}`)));
    files.push(...(await writeScoreHistograms(m.ood.scores, out, `${title}: ${dataset} test vs OoD sets`)));
    files.push(...(await writePlot(similaritySpec(modelClassSimilarity(model), `${title}: expected confusion between classes`), out, 'similarity')));

    // two explained examples: the hardest in-distribution call, and the first image of the first OoD set
    const test = await loadDataset(dataset, 'test');
    const { height, width, channels } = model.config.input;
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(Float32Array.from(test.pixels.subarray(0, 2000 * height * width * channels), (v) => v / 255), [2000, height, width, channels]);
      return model.infer(x).posterior.dataSync() as Float32Array;
    });
    const hard = mostAmbiguous(probs, model.classes, 2000);
    const examples: Array<{ name: string; short: string; pixels: Float32Array; what: string }> = [{ name: 'ambiguous', short: `${dataset} test image ${hard}`, pixels: imageOf(test, hard), what: `${dataset} test image ${hard} (label ${names[test.labels[hard]]}), the test image whose top two classes are closest` }];
    const firstOod = CARD_OOD_SETS[dataset]?.[0];
    if (firstOod === 'fashion-mnist' || firstOod === 'mnist' || firstOod === 'cifar10') {
      const other = await loadDataset(firstOod, 'test');
      examples.push({ name: 'ood', short: `${firstOod} test image 0`, pixels: imageOf(other, 0), what: `${firstOod} test image 0, an input the model was not trained on` });
    }
    const exampleLines: string[] = [];
    for (const ex of examples) {
      const x = tf.tensor4d(ex.pixels, [1, height, width, channels]);
      const e = explainImage(model, x, reference);
      const h = integratedGradients(model, x, 3, 64);
      x.dispose();
      files.push(...(await writePlot(decisionSpaceSpec(e.decision, names, `${ex.short}: ${e.decision.case}`), out, `decision-space-${ex.name}`)));
      writeFileSync(join(out, `heatmap-${ex.name}.png`), await heatmapPng(ex.pixels, [height, width, channels], h, names, `${ex.short}: evidence per pixel (integrated gradients of log q(y|x))`));
      files.push(`heatmap-${ex.name}.png`);
      exampleLines.push(`### ${ex.what}`, '', `> ${e.sentence}`, '', `![decision space](decision-space-${ex.name}.svg) ![heatmap](heatmap-${ex.name}.png)`, '');
    }

    const checks = card ? compareFigures(card.measured, m.figures) : null;
    const verified = checks ? checks.every((c) => c.ok) : null;
    const f = m.figures;
    const md = [
      `# trustgc demo: ${title}`,
      '',
      `Evaluated ${new Date().toISOString().slice(0, 10)} on the ${m.testImages} ${dataset} test images and ${Object.keys(f.oodAuroc).length} OoD sets (${m.ood.report.inDistribution.images} in-distribution images against ${m.ood.report.sets[0]?.images ?? 0} per set), in ${((Date.now() - started) / 1000).toFixed(0)} s.`,
      '',
      `- **accuracy** ${f.accuracy.toFixed(2)} %, **bits/dim** ${f.bitsPerDim?.toFixed(3) ?? '–'}, **ECE** ${f.ece.toFixed(2)} % (IB-INN convention) / ${f.eceTop1.toFixed(2)} % (top-1)`,
      `- **OoD detection** (AUROC, two-tailed likelihood test): ${Object.entries(f.oodAuroc).map(([k, v]) => `${k} ${v.toFixed(1)} %`).join(', ')}`,
      card ? `- **model card**: ${verified ? 'every figure reproduced within tolerance' : 'SOME FIGURES ARE OFF THE CARD'} (table below)` : '- no model card in this folder',
      '',
      '## Two inputs, explained',
      '',
      ...exampleLines,
      '## Calibration',
      '',
      formatCalibration(m.calibration),
      '',
      '![reliability (IB-INN convention)](reliability-ibinn.svg) ![reliability (top-1)](reliability-top1.svg)',
      '',
      '## Out-of-distribution detection',
      '',
      formatOodTable(m.ood.report),
      '',
      '![likelihood histograms](ood-lx.svg)',
      '',
      '## Class similarity',
      '',
      '![expected confusion between classes](similarity.svg)',
      '',
      ...(checks ? ['## Card figures', '', formatChecks(checks), ''] : []),
    ].join('\n');
    writeFileSync(join(out, 'report.md'), md);
    writeFileSync(join(out, 'index.html'), markdownToHtml(md, `trustgc demo: ${title}`, out));
    files.push('report.md', 'index.html');
    return { accuracy: f.accuracy, bitsPerDim: f.bitsPerDim, ece: f.ece, oodAuroc: f.oodAuroc, cardVerified: verified, seconds: (Date.now() - started) / 1000, files };
  } finally {
    model.dispose();
  }
}
