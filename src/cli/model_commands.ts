/**
 * CLI commands around a trained or imported model: `import` (official PyTorch checkpoints),
 * `predict` (classify image files, with likelihood and OoD verdict) and `calibrate-ood`
 * (in-distribution likelihood reference from a folder of images).
 */
import { Command, InvalidArgumentError } from 'commander';
import { basename } from 'node:path';
import { mkdirSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { ARCH_NAMES, isArchName } from '../gc/presets.js';
import type { ArchName } from '../gc/presets.js';
import { importOfficialCheckpoint } from '../io/torch/import_official.js';
import { loadModel, saveModel } from '../io/checkpoint.js';
import { explainImage, requireGc } from '../explain/explain.js';
import { DEFAULT_THRESHOLDS } from '../explain/decision_space.js';
import { readClassIndex } from '../data/class_index.js';
import { imageForModel, listImages } from '../data/model_input.js';
import type { CropCount } from '../data/crops.js';
import { loadInferenceModel } from '../onnx/runtime.js';
import type { EngineChoice } from '../onnx/runtime.js';
import type { InferenceModel } from '../gc/model.js';
import { loadReference, makeReference, pValues, saveReference, OOD_REFERENCE_FILE } from '../eval/ood_reference.js';
import type { OodPValues } from '../eval/ood_reference.js';
import { modelOptions, phaseBar } from './progress.js';

export function parseCrops(v: string): CropCount {
  if (v !== '1' && v !== '10') throw new InvalidArgumentError(`crops must be 1 or 10, got "${v}"`);
  return Number(v) as CropCount;
}

export interface Prediction {
  file: string;
  top: Array<{ rank: number; class: number; name: string; id?: string; probability: number }>;
  /** log p(x) in [0,1]-pixel space, nats (mean over crops) */
  logPx: number;
  bitsPerDim: number;
  /** L_X, nats per dimension (mean over crops) */
  lx: number;
  /** predictive entropy of the (crop-averaged) posterior, nats */
  entropy: number;
  ood?: OodPValues & { alpha: number; outOfDistribution: boolean };
}

/** Classifies one image file: posteriors averaged over crops, likelihoods averaged over crops. */
export async function predictFile(model: InferenceModel, file: string, crops: CropCount, topK = 5): Promise<Omit<Prediction, 'ood'>> {
  const { height, width, channels } = model.config.input;
  const pixels = await imageForModel(file, model.config, crops);
  const x = tf.tensor4d(pixels, [crops, height, width, channels]);
  const r = await model.infer(x);
  const [probs, logPx, bpd, lx] = tf.tidy(() => [
    tf.mean(r.posterior, 0).dataSync(),
    tf.mean(r.logPx).dataSync()[0],
    tf.mean(r.bitsPerDim).dataSync()[0],
    tf.mean(r.lx).dataSync()[0],
  ]) as [Float32Array, number, number, number];
  tf.dispose([x, ...Object.values(r)]);
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, Math.min(topK, probs.length));
  const { classNames, classIds } = model.config;
  const top = order.map((c, i) => ({ rank: i + 1, class: c, name: classNames[c], ...(classIds ? { id: classIds[c] } : {}), probability: probs[c] }));
  let entropy = 0;
  for (const p of probs) if (p > 0) entropy -= p * Math.log(p);
  return { file, top, logPx, bitsPerDim: bpd, lx, entropy };
}

function printPrediction(p: Prediction): void {
  console.log(p.file);
  for (const t of p.top) console.log(`  ${t.rank}. ${(100 * t.probability).toFixed(2).padStart(6)} %  ${t.name}${t.id && t.id !== t.name ? ` (${t.id})` : ''}`);
  console.log(`  predictive entropy ${p.entropy.toFixed(3)} nats`);
  if (Number.isNaN(p.logPx)) {
    console.log('  no likelihood: a discriminative baseline cannot say how typical the image is');
    return;
  }
  console.log(`  log p(x) ${p.logPx.toFixed(1)} nats   bits/dim ${p.bitsPerDim.toFixed(4)}   L_X ${p.lx.toFixed(4)} nats/dim`);
  if (p.ood) {
    const verdict = p.ood.outOfDistribution ? 'OUT OF DISTRIBUTION' : 'in distribution';
    console.log(`  OoD: ${verdict} (two-tailed p = ${p.ood.twoTailed.toPrecision(3)} at α = ${p.ood.alpha}; one-tailed p = ${p.ood.oneTailed.toPrecision(3)}, typicality p = ${p.ood.typicality.toPrecision(3)})`);
  } else {
    console.log(`  OoD: no verdict, the model has no ${OOD_REFERENCE_FILE} (create one with trustgc calibrate-ood)`);
  }
}

export function addModelCommands(program: Command): void {
  program
    .command('import')
    .description('convert an official ImageNet GC checkpoint (beta_X.avg.pt, zip or legacy format) into a trustgc model folder')
    .argument('<checkpoint>', 'PyTorch checkpoint file')
    .requiredOption('--out <dir>', 'model folder to write')
    .option('--arch <name>', `architecture (${ARCH_NAMES.filter((a) => a.startsWith('imagenet')).join(' | ')})`, 'imagenet-resnet50-inn')
    .option('--class-index <file>', 'class ids and names (imagenet_class_index.json, or one "<wnid> <name>" per line)')
    .option('--mixing <storage>', 'auto | dense | indices: how the fixed channel permutations are stored', 'auto')
    .action((checkpoint: string, o) => {
      if (!isArchName(o.arch)) throw new InvalidArgumentError(`unknown architecture "${o.arch}"`);
      if (!['auto', 'dense', 'indices'].includes(o.mixing)) throw new InvalidArgumentError(`--mixing must be auto, dense or indices, got "${o.mixing}"`);
      const index = o.classIndex ? readClassIndex(o.classIndex) : undefined;
      const bar = phaseBar('importing tensors');
      const started = Date.now();
      const { model, report } = importOfficialCheckpoint(checkpoint, {
        arch: o.arch as ArchName,
        classNames: index?.names,
        classIds: index?.ids,
        mixingStorage: o.mixing,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      mkdirSync(o.out, { recursive: true });
      saveModel(o.out, model);
      const c = model.countParams();
      console.log(`imported ${basename(checkpoint)} (${report.format} format) into ${o.out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      console.log(`  ${report.imported} tensors imported, ${report.skipped} skipped (cached activations, BN counters, w_inv, fixed kernels)`);
      console.log(`  ${c.total.toLocaleString('en')} parameters, ${report.classes} classes, mixing stored as ${report.mixingStorage}`);
      model.dispose();
    });

  modelOptions(
    program
      .command('predict')
      .description('classify image files: top-5 classes with posteriors, log p(x), bits/dim and an OoD verdict')
      .argument('<images...>', 'image files')
  )
    .option('--crops <n>', '1 (centre crop) or 10 (TenCrop, posteriors averaged); ImageNet models only', parseCrops, 1)
    .option('--top <k>', 'how many classes to list', (v) => Number(v), 5)
    .option('--alpha <α>', 'significance level of the OoD test', (v) => Number(v), 0.01)
    .option('--explain', 'add a Fig. 1-style verdict (confident / ambiguous / uncertain / OoD) from the decision space around the image (GCs; runs the tfjs model)', false)
    .option('--json', 'print JSON', false)
    .action(async (images: string[], o) => {
      if (!(o.alpha > 0 && o.alpha < 1)) throw new InvalidArgumentError(`--alpha must be in (0, 1), got ${o.alpha}`);
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      const reference = loadReference(o.model);
      // the explanation needs latent codes and class means: the tfjs model, whatever runs predict
      const explainer = o.explain ? requireGc(loadModel(o.model), '--explain') : null;
      const out: Array<Prediction & { explanation?: { case: string; sentence: string } }> = [];
      try {
        for (const file of images) {
          const p: Prediction & { explanation?: { case: string; sentence: string } } = await predictFile(model, file, o.crops, o.top);
          if (reference) {
            const pv = pValues(reference, p.lx);
            p.ood = { ...pv, alpha: o.alpha, outOfDistribution: pv.twoTailed < o.alpha };
          }
          if (explainer) {
            const { height, width, channels } = explainer.config.input;
            const x = tf.tensor4d(await imageForModel(file, explainer.config, 1), [1, height, width, channels]);
            const e = explainImage(explainer, x, reference, { ...DEFAULT_THRESHOLDS, alpha: o.alpha });
            x.dispose();
            p.explanation = { case: e.decision.case, sentence: e.sentence };
          }
          if (o.json) out.push(p);
          else {
            printPrediction(p);
            if (p.explanation) console.log(`  explanation (${p.explanation.case}): ${p.explanation.sentence}`);
          }
        }
      } finally {
        explainer?.dispose();
        await model.dispose();
      }
      if (o.json) console.log(JSON.stringify(out, null, 2));
    });

  modelOptions(
    program
      .command('calibrate-ood')
      .description(`score in-distribution images and store them as the model's OoD reference (${OOD_REFERENCE_FILE})`)
  )
    .requiredOption('--data <folder>', 'folder of in-distribution (ideally training) images, searched recursively')
    .option('--limit <n>', 'use at most n images (an even spread)', (v) => Number(v), 5000)
    .action(async (o) => {
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      if (model.config.modelType === 'dc') throw new Error('calibrate-ood needs a generative classifier; a discriminative baseline has no likelihood');
      let files = listImages(o.data);
      if (files.length > o.limit) files = Array.from({ length: o.limit }, (_, i) => files[Math.floor((i * files.length) / o.limit)]);
      const bar = phaseBar('scoring images');
      const scores: number[] = [];
      for (let i = 0; i < files.length; i++) {
        scores.push((await predictFile(model, files[i], 1, 1)).lx);
        bar.update(i + 1, files.length);
      }
      bar.stop();
      const ref = makeReference(scores, `${o.data}: ${files.length} images`);
      saveReference(o.model, ref);
      const q = (f: number) => ref.values[Math.min(ref.values.length - 1, Math.floor(f * ref.values.length))].toFixed(4);
      console.log(`wrote ${o.model}/${OOD_REFERENCE_FILE}: L_X of ${files.length} images, median ${q(0.5)} nats/dim (1 %: ${q(0.01)}, 99 %: ${q(0.99)})`);
      await model.dispose();
    });
}
