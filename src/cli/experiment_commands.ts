/** `trustgc experiment beta-sweep`: the paper's β experiment at our scale (src/experiment/). */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { betaSweep, betaText } from '../experiment/beta_sweep.js';
import type { ArchName } from '../gc/presets.js';
import { isArchName } from '../gc/presets.js';
import type { TrainOptions } from '../train/trainer.js';
import { runTraining } from './training_run.js';

const DEFAULT_ARCH: Record<string, ArchName> = { mnist: 'tiny-mnist', 'fashion-mnist': 'tiny-mnist', cifar10: 'tiny-rgb32' };

function parseBetas(v: string): number[] {
  const betas = v.split(',').filter(Boolean).map((s) => {
    if (s === 'inf' || s === '∞') return Infinity;
    const b = Number(s);
    if (!(b >= 0) || !Number.isFinite(b)) throw new InvalidArgumentError(`β values are non-negative numbers or inf, got "${s}"`);
    return b;
  });
  if (!betas.length) throw new InvalidArgumentError('--betas is empty');
  if (new Set(betas).size !== betas.length) throw new InvalidArgumentError(`--betas lists a value twice: ${v}`);
  return betas.sort((a, b) => a - b);
}

const count = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${v}"`);
  return n;
};

export function addExperimentCommands(program: Command): void {
  const experiment = program.command('experiment').description("the paper's experiments at our scale");
  experiment
    .command('beta-sweep')
    .description('train a GC per β plus the DC baseline (resumable), run every evaluation, and write report.md and report/index.html beside the paper\'s ImageNet figures')
    .option('--dataset <name>', 'mnist | fashion-mnist | cifar10', 'mnist')
    .option('--arch <name>', 'architecture (default: tiny-mnist for the 28×28 sets, tiny-rgb32 for CIFAR-10)')
    .option('--betas <list>', 'β values (inf = pure cross entropy)', parseBetas, parseBetas('0,1,2,4,8,16,32,inf'))
    .option('--epochs <n>', 'training budget: epochs per model', count('--epochs'), 3)
    .option('--train-limit <n>', 'training budget: only the first n training images', count('--train-limit'))
    .option('--lr <lr>', 'Adam learning rate', (v) => Number(v), 1e-3)
    .option('--batch-size <n>', 'batch size', count('--batch-size'), 128)
    .option('--test-limit <n>', 'accuracy, calibration and bits/dim on only the first n test images', count('--test-limit'))
    .option('--ood-images <n>', 'in-distribution and per-set images of the OoD measurement', count('--ood-images'), 2000)
    .option('--robustness-images <n>', 'test images corrupted in each of the 75 settings', count('--robustness-images'), 500)
    .option('--attack-images <n>', 'images attacked per model (κ = 1, d = 0)', count('--attack-images'), 50)
    .option('--rf-images <n>', 'images for the receptive field', count('--rf-images'), 50)
    .option('--latent-images <n>', 'test images in the latent-layout figures', count('--latent-images'), 1000)
    .option('--out <dir>', 'experiment folder (default experiments/beta-sweep-<dataset>)')
    .action(async (o) => {
      const arch = o.arch ?? DEFAULT_ARCH[o.dataset];
      if (!arch || !isArchName(arch)) throw new InvalidArgumentError(`no architecture for data set ${o.dataset}: pass --arch`);
      const out = o.out ?? join('experiments', `beta-sweep-${o.dataset}`);
      const colour = o.dataset !== 'mnist';
      const train: Partial<TrainOptions> = {
        optimizer: 'adam',
        lr: o.lr,
        weightDecay: 0,
        batchSize: o.batchSize,
        lrDecayEpochs: o.epochs >= 3 ? [Math.round((2 * o.epochs) / 3)] : [],
        augment: { shift: 2, flip: colour, dequantize: true, noiseStd: 0.01 },
        evalEveryEpochs: 0,
      };
      console.error(`β-sweep on ${o.dataset} (${arch}): β = ${o.betas.map(betaText).join(', ')} and the DC, ${o.epochs} epoch(s) each → ${out}`);
      const { results } = await betaSweep(
        { dataset: o.dataset, arch, betas: o.betas, out, epochs: o.epochs, trainLimit: o.trainLimit, testLimit: o.testLimit, oodImages: o.oodImages, robustnessImages: o.robustnessImages, attackImages: o.attackImages, receptiveFieldImages: o.rfImages, latentImages: o.latentImages, train },
        (opts, resume) => runTraining(resume ? ({ outDir: opts.outDir } as TrainOptions) : opts, resume, false),
        (what) => console.error(`… ${what}`),
      );
      console.log('| β | accuracy % | bits/dim | ECE % | OoD AUROC % | corruption AUROC % | attack corruption |');
      console.log('|---|---|---|---|---|---|---|');
      for (const r of results) console.log(`| ${betaText(r.beta)} | ${r.accuracy.toFixed(2)} | ${r.bitsPerDim?.toFixed(3) ?? '–'} | ${r.calibration.ece.toFixed(2)} | ${r.ood.mean.toFixed(1)} | ${r.robustness.oodAuroc?.toFixed(1) ?? '–'} | ${r.attack.corruption.toFixed(4)} |`);
      console.log(`report: ${join(out, 'report.md')}, ${join(out, 'report', 'index.html')}`);
    });
}
