/** CLI command `explain <kind>`: the model's native explanations as data (JSON) and figures. */
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModel } from '../io/checkpoint.js';
import { loadDataset } from '../data/registry.js';
import { firstN, sampleSize } from '../data/dataset.js';
import { loadReference } from '../eval/ood_reference.js';
import { imageForModel } from '../data/model_input.js';
import { classSamples, explainImage, latentCodes, latentProjection, modelClassSimilarity, requireGc } from '../explain/explain.js';
import { DEFAULT_THRESHOLDS } from '../explain/decision_space.js';
import { dctInfluenceSpec, decisionSpaceSpec, heatmapPng, planarSpec, projectionSpec, receptiveFieldSpec, renderFigure, samplesPng, similaritySpec } from '../plots/explain.js';
import { fitPlanarMeans, planarProject } from '../explain/planar.js';
import { classHeatmaps } from '../explain/heatmap.js';
import { dctInfluence } from '../explain/dct_influence.js';
import { receptiveField } from '../explain/receptive_field.js';
import { writeFileAtomic } from '../io/safetensors.js';
import type { Classifier } from '../gc/classifier.js';
import { testSetFor } from './trust_commands.js';

const number = (name: string, test: (n: number) => boolean, what: string) => (v: string) => {
  const n = Number(v);
  if (!test(n)) throw new InvalidArgumentError(`--${name} must be ${what}, got "${v}"`);
  return n;
};
const count = (name: string) => number(name, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');

/** Loads a model folder, checks it is the right kind, runs fn, and always frees the model. */
async function withModel<T extends Classifier>(dir: string, check: (m: Classifier) => T, fn: (model: T) => Promise<void>): Promise<void> {
  const model = loadModel(dir);
  try {
    await fn(check(model));
  } finally {
    model.dispose();
  }
}

function writeFigure(file: string, fig: { svg: string; png: Buffer }): string[] {
  mkdirSync(dirname(file), { recursive: true });
  const base = file.replace(/\.(png|svg)$/i, '');
  writeFileSync(`${base}.png`, fig.png);
  writeFileSync(`${base}.svg`, fig.svg);
  return [`${base}.png`, `${base}.svg`];
}

export function addExplainCommands(program: Command): void {
  const explain = program.command('explain').description('native explanations of a generative classifier: decision space, class similarity, latent layout, samples');

  explain
    .command('decision-space')
    .description('the five nearest class means around an input in 2-D (paper Fig. 6), the case (confident / ambiguous / uncertain / OoD) and a one-sentence verdict')
    .requiredOption('--model <dir>', 'model folder')
    .option('--image <file>', 'an image file')
    .option('--dataset <name>', 'or a test image of this data set', 'mnist')
    .option('--index <i>', 'index of that test image', number('index', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'), 0)
    .option('--alpha <α>', 'OoD significance level', number('alpha', (n) => n > 0 && n < 1, 'in (0, 1)'), 0.01)
    .option('--out <file>', 'write the figure (PNG + SVG) here')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      await withModel(o.model, (m) => requireGc(m, 'the decision-space view'), async (model) => {
        const { height, width, channels } = model.config.input;
        let pixels: Float32Array;
        let label = '';
        if (o.image) pixels = await imageForModel(o.image, model.config, 1);
        else {
          const ds = await testSetFor(model, o.dataset);
          if (o.index >= ds.labels.length) throw new InvalidArgumentError(`--index ${o.index} is beyond the ${ds.labels.length} test images`);
          const n = sampleSize(ds);
          pixels = Float32Array.from(ds.pixels.subarray(o.index * n, (o.index + 1) * n), (v) => v / 255);
          label = ` (label ${ds.classNames[ds.labels[o.index]]})`;
        }
        const x = tf.tensor4d(pixels, [1, height, width, channels]);
        const e = explainImage(model, x, loadReference(o.model), { ...DEFAULT_THRESHOLDS, alpha: o.alpha });
        x.dispose();
        const source = o.image ?? `${o.dataset} test image ${o.index}${label}`;
        if (o.out) {
          const files = writeFigure(o.out, await renderFigure(decisionSpaceSpec(e.decision, model.config.classNames, `${source}: ${e.decision.case}`)));
          if (!o.json) console.error(`wrote ${files.join(', ')}`);
        }
        if (o.json) console.log(JSON.stringify({ source, ...e }, null, 2));
        else {
          console.log(`${source}: ${e.decision.case}`);
          console.log(`  ${e.sentence}`);
          console.log(`  top-5: ${e.decision.classes.map((c, i) => `${model.config.classNames[c]} ${e.decision.posterior[i].toFixed(3)}`).join(', ')} (together ${e.decision.topFiveMass.toFixed(4)})`);
          console.log(`  ‖μ₂ − μ₁‖ = ${e.decision.separation.toFixed(2)}; distance of z from the 5-D span ${e.decision.offSpan.toFixed(2)}`);
        }
      });
    });

  explain
    .command('similarity')
    .description('distances between class means and expected pairwise uncertainty 1 − Φ(Δμ/2), classes ordered by hierarchical clustering (paper Figs. 8–9)')
    .requiredOption('--model <dir>', 'model folder')
    .option('--out <dir>', 'write similarity.json and the matrix figure here')
    .option('--pairs <n>', 'most similar pairs to list', count('pairs'), 10)
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      await withModel(o.model, (m) => m, async (model) => {
        const s = modelClassSimilarity(model);
        const names = s.classes;
        const closest = s.closestPairs.slice(0, o.pairs);
        if (o.out) {
          mkdirSync(o.out, { recursive: true });
          writeFileAtomic(join(o.out, 'similarity.json'), JSON.stringify({ classes: names, order: s.order, distances: Array.from(s.distances), uncertainty: Array.from(s.uncertainty), closestPairs: s.closestPairs }, null, 1) + '\n');
          const files = [
            ...writeFigure(join(o.out, 'similarity.png'), await renderFigure(similaritySpec(s, `${o.model}: expected pairwise uncertainty 1 − Φ(Δμ/2)`))),
            ...writeFigure(join(o.out, 'distances.png'), await renderFigure(similaritySpec(s, `${o.model}: distances Δμ between class means`, 'distance'))),
          ];
          if (!o.json) console.error(`wrote ${join(o.out, 'similarity.json')}, ${files.join(', ')}`);
        }
        if (o.json) console.log(JSON.stringify({ order: s.order.map((i) => names[i]), closestPairs: closest.map((p) => ({ ...p, a: names[p.a], b: names[p.b] })) }, null, 2));
        else {
          console.log(`clustering order: ${s.order.map((i) => names[i]).join(' ')}`);
          console.log('| classes | Δμ | expected uncertainty % |');
          console.log('|---|---|---|');
          for (const p of closest) console.log(`| ${names[p.a]} – ${names[p.b]} | ${p.deltaMu.toFixed(3)} | ${(100 * p.uncertainty).toFixed(3)} |`);
        }
      });
    });

  explain
    .command('samples')
    .description('class-conditional samples: invert z ~ N(μ_y, T²·I) through the INN, one row per class')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--out <file>', 'PNG grid')
    .option('--per-class <n>', 'samples per class', count('per-class'), 8)
    .option('--temperature <T>', 'standard deviation of the latent samples (1 = the model\'s own)', number('temperature', (n) => n >= 0, 'a number ≥ 0'), 0.8)
    .option('--seed <n>', 'seed', number('seed', (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'), 0)
    .option('--classes <list>', 'comma-separated class names (default: all, at most 20)')
    .action(async (o) => {
      await withModel(o.model, (m) => m, async (model) => {
        const names = model.config.classNames;
        let which: number[] | undefined;
        if (o.classes) {
          which = String(o.classes).split(',').map((c) => {
            const i = names.indexOf(c);
            if (i < 0) throw new InvalidArgumentError(`unknown class "${c}"; the model's classes are ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`);
            return i;
          });
        } else if (names.length > 20) which = Array.from({ length: 20 }, (_, i) => Math.floor((i * names.length) / 20));
        const rows = classSamples(model, o.perClass, o.temperature, o.seed, which);
        const { height, width, channels } = model.config.input;
        mkdirSync(dirname(o.out), { recursive: true });
        writeFileSync(o.out, await samplesPng(rows, [height, width, channels], (which ?? names.map((_, i) => i)).map((i) => names[i]), `${o.model}: samples at T = ${o.temperature}`));
        console.error(`wrote ${o.out}`);
      });
    });

  explain
    .command('receptive-field')
    .description('effective receptive field (paper Eq. 10, Fig. 4): sensitivity of the centre column of the last feature map before DCT pooling to every input pixel, averaged over test images; FWHM of its centre row')
    .requiredOption('--model <dir>', 'model folder')
    .option('--dataset <name>', 'data set (test split)', 'mnist')
    .option('--limit <n>', 'test images averaged', count('limit'), 100)
    .option('--out <file>', 'figure (PNG + SVG)')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      await withModel(o.model, (m) => requireGc(m, 'the receptive field of the INN'), async (model) => {
        const ds = await testSetFor(model, o.dataset, o.limit);
        const images = Float32Array.from(ds.pixels, (v) => v / 255);
        const rf = receptiveField(model, images, ds.labels.length);
        if (o.out) {
          const files = writeFigure(o.out, await renderFigure(receptiveFieldSpec(rf, `${o.model}: effective receptive field (${rf.images} images, feature map ${rf.featureShape.join('×')})`)));
          if (!o.json) console.error(`wrote ${files.join(', ')}`);
        }
        if (o.json) console.log(JSON.stringify({ ...rf, sensitivity: Array.from(rf.sensitivity) }, null, 1));
        else console.log(`effective receptive field of ${o.model}: FWHM ${rf.fwhm.toFixed(2)} px of ${rf.width} (centre row${rf.cell > 1 ? `, averaged over ${rf.cell}-px cells` : ''}; feature map ${rf.featureShape.join('×')}, centre ${rf.centre.join(',')}, ${rf.images} images)`);
      });
    });

  explain
    .command('planar')
    .description('planar decision space (paper Fig. 7): class means constrained to a plane and fine-tuned with the INN frozen; exact 2-D posterior with Voronoi boundaries')
    .requiredOption('--model <dir>', 'model folder')
    .option('--dataset <name>', 'data set', 'mnist')
    .option('--train-limit <n>', 'training images the plane is fitted on', count('train-limit'), 10000)
    .option('--test-limit <n>', 'test images evaluated and drawn', count('test-limit'), 2000)
    .option('--steps <n>', 'Adam steps', count('steps'), 400)
    .option('--out <file>', 'figure (PNG + SVG)')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      await withModel(o.model, (m) => requireGc(m, 'the planar decision space'), async (model) => {
        const train = firstN(await loadDataset(o.dataset, 'train'), o.trainLimit);
        const test = await testSetFor(model, o.dataset, o.testLimit);
        const means = model.head.means();
        const meanData = means.dataSync() as Float32Array;
        means.dispose();
        const planar = fitPlanarMeans(latentCodes(model, train), train.labels, meanData, model.classes, { steps: o.steps });
        const testCodes = latentCodes(model, test);
        const { xy, prediction } = planarProject(planar, testCodes);
        const testAccuracy = prediction.reduce((s, p, i) => s + (p === test.labels[i] ? 1 : 0), 0) / prediction.length;
        const summary = { trainImages: train.labels.length, testImages: test.labels.length, steps: planar.steps, trainAccuracyPcaPlane: planar.accuracyBefore, trainAccuracyFineTuned: planar.accuracyAfter, testAccuracy, centres: Array.from(planar.centres) };
        if (o.out) {
          const files = writeFigure(o.out, await renderFigure(planarSpec(planar, xy, test.labels, model.config.classNames, `${o.model}: planar means, test accuracy ${(100 * testAccuracy).toFixed(1)} %`)));
          if (!o.json) console.error(`wrote ${files.join(', ')}`);
        }
        if (o.json) console.log(JSON.stringify(summary, null, 2));
        else console.log(`planar means fitted on ${summary.trainImages} ${o.dataset} training codes (${summary.steps} Adam steps): accuracy ${(100 * planar.accuracyBefore).toFixed(1)} % in the PCA plane of the original means → ${(100 * planar.accuracyAfter).toFixed(1)} % fine-tuned; ${(100 * testAccuracy).toFixed(1)} % on ${summary.testImages} test images`);
      });
    });

  explain
    .command('heatmap')
    .description('class-posterior heatmaps (paper Eqs. 14–21, Fig. 10): where in the image the evidence for each top class lies; ImageNet layouts (latent = DCT coefficients)')
    .requiredOption('--model <dir>', 'model folder')
    .requiredOption('--image <file>', 'image file')
    .option('--top <k>', 'classes shown', count('top'), 3)
    .option('--out <file>', 'figure (PNG)')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      await withModel(o.model, (m) => requireGc(m, 'class heatmaps'), async (model) => {
        const { height, width, channels } = model.config.input;
        const pixels = await imageForModel(o.image, model.config, 1);
        const x = tf.tensor4d(pixels, [1, height, width, channels]);
        const h = classHeatmaps(model, x, o.top);
        x.dispose();
        const names = model.config.classNames;
        if (o.out) {
          mkdirSync(dirname(o.out), { recursive: true });
          writeFileSync(o.out, await heatmapPng(pixels, [height, width, channels], h, names, `${o.image}: class evidence per position (${h.n}×${h.n})`));
          if (!o.json) console.error(`wrote ${o.out}`);
        }
        if (o.json) console.log(JSON.stringify({ ...h, classes: h.classes.map((c) => names[c]), maps: h.maps.map((m) => Array.from(m)), sShare: Array.from(h.sShare), r: Array.from(h.r) }, null, 1));
        else for (let i = 0; i < h.classes.length; i++) console.log(`${names[h.classes[i]]}: log q(y|x) = ${h.logPosterior[i].toFixed(4)} = Σ of its ${h.n}×${h.n} map (${h.maps[i].reduce((a, v) => a + v, 0).toFixed(4)})`);
      });
    });

  explain
    .command('dct-influence')
    .description('spread of the class means across classes per DCT coefficient (paper Fig. 18); ImageNet layouts')
    .requiredOption('--model <dir>', 'model folder')
    .option('--out <file>', 'figure (PNG + SVG)')
    .action(async (o) => {
      await withModel(o.model, (m) => requireGc(m, 'the DCT influence'), async (model) => {
        const inf = dctInfluence(model);
        if (o.out) console.error(`wrote ${writeFigure(o.out, await renderFigure(dctInfluenceSpec(inf, `${o.model}: class spread of μ per DCT coefficient`))).join(', ')}`);
        const rows = Array.from({ length: inf.n }, (_, kh) => `kh ${kh}: ${Array.from(inf.spread.subarray(kh * inf.n, (kh + 1) * inf.n), (v) => v.toFixed(4)).join(' ')}`);
        console.log([`std over classes of μ per DCT coefficient (columns kw = 0…${inf.n - 1}), averaged over channels:`, ...rows].join('\n'));
      });
    });

  explain
    .command('latent')
    .description('2-D layout of test images (paper Fig. 19): GC latent codes in the PCA plane of the class means; DC features by LDA')
    .requiredOption('--model <dir>', 'model folder')
    .option('--dataset <name>', 'data set (test split)', 'mnist')
    .option('--limit <n>', 'test images', count('limit'), 2000)
    .requiredOption('--out <file>', 'figure (PNG + SVG)')
    .action(async (o) => {
      await withModel(o.model, (m) => m, async (model) => {
        const ds = await testSetFor(model, o.dataset, o.limit);
        const p = latentProjection(model, ds);
        const title = `${o.model} on ${ds.name}: ${p.method === 'lda' ? 'LDA of the penultimate features' : 'latent codes, PCA plane of the class means'}`;
        const files = writeFigure(o.out, await renderFigure(projectionSpec(p, model.config.classNames, title)));
        console.error(`wrote ${files.join(', ')}`);
      });
    });
}
