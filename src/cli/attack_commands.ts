/** CLI command `attack`: Carlini–Wagner attacks with likelihood-based detection (paper §4.6). */
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../io/checkpoint.js';
import { attackMarkdown, kappaText, runAttack } from '../attack/attack_eval.js';
import type { AttackRun } from '../attack/attack_eval.js';
import { GenerativeClassifier } from '../gc/model.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { ensureReference, testSetFor } from './trust_commands.js';
import { phaseBar } from './progress.js';
import type { Classifier } from '../gc/classifier.js';
import type { ImageDataset } from '../data/dataset.js';

export function parseKappa(v: string): number {
  if (['inf', 'infinity', '∞'].includes(v.toLowerCase())) return Infinity;
  const k = Number(v);
  if (!(k >= 0)) throw new InvalidArgumentError(`--kappa must be a number ≥ 0 or inf, got "${v}"`);
  return k;
}

const positive = (name: string, integer = false) => (v: string) => {
  const n = Number(v);
  if (!(n >= 0) || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`--${name} must be a ${integer ? 'non-negative integer' : 'number ≥ 0'}, got "${v}"`);
  return n;
};

/** Writes attack.json / attack.md, the panel figure and (GCs) the latent trajectory plot. */
export async function writeAttackReport(run: AttackRun, model: Classifier, ds: ImageDataset, dir: string, /** JSON and PNGs only */ compact = false): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const { report } = run;
  const stem = `attack-k${kappaText(report.setting.kappa).replace('∞', 'inf')}-d${report.setting.d}`;
  writeFileAtomic(join(dir, `${stem}.json`), JSON.stringify(report, null, 2) + '\n');
  if (!compact) writeFileAtomic(join(dir, `${stem}.md`), attackMarkdown([report]) + '\n');
  const { attackPanelsPng, trajectoryProjection, trajectoryPlot } = await import('../plots/attack.js');
  const files = compact ? [`${stem}.json`] : [`${stem}.json`, `${stem}.md`];
  writeFileSync(join(dir, `${stem}-panels.png`), await attackPanelsPng(run, [ds.height, ds.width, ds.channels], ds.classNames));
  files.push(`${stem}-panels.png`);
  if (model instanceof GenerativeClassifier && run.traces.length && run.traces[0].z.length > 1) {
    const means = model.head.means();
    const data = means.dataSync() as Float32Array;
    means.dispose();
    const first = report.images[0];
    const p = trajectoryProjection(run.traces[0], data, model.classes);
    const { svg, png } = await trajectoryPlot(p, ds.classNames, report.setting.kappa, `CW path in latent space: ${ds.classNames[first.label]} → ${ds.classNames[first.target]} (κ = ${kappaText(report.setting.kappa)}, d = ${report.setting.d})`);
    if (!compact) writeFileSync(join(dir, `${stem}-trajectory.svg`), svg);
    writeFileSync(join(dir, `${stem}-trajectory.png`), png);
    files.push(`${stem}-trajectory.png`);
  }
  return files;
}

export function addAttackCommands(program: Command): void {
  program
    .command('attack')
    .description('targeted Carlini–Wagner L2 attack (and its detection-aware variant) on fixed random test images; Tables 7–9 columns')
    .requiredOption('--model <dir>', 'model folder (runs on tfjs: the attack needs gradients)')
    .option('--dataset <name>', 'data set (test split)', 'mnist')
    .option('--n <count>', 'images attacked', positive('n', true), 200)
    .option('--kappa <k>', 'confidence margin κ (0.01, 1, inf)', parseKappa, 1)
    .option('--d <weight>', 'detection-aware weight d of (median log q − log q(x_att))² (0, 66, 1000); GCs only', positive('d'), 0)
    .option('--c <weight>', 'weight of the misclassification term', positive('c'), 10)
    .option('--lr <rate>', 'Adam learning rate', positive('lr'), 0.01)
    .option('--patience <steps>', 'stop an image when its objective has not improved for this many steps', positive('patience', true), 20)
    .option('--max-steps <steps>', 'step cap per image', positive('max-steps', true), 500)
    .option('--binary-search <rounds>', 'search c per image over this many rounds (0: fixed c, as the paper)', positive('binary-search', true), 0)
    .option('--batch <n>', 'images attacked together', positive('batch', true), 200)
    .option('--seed <n>', 'seed of the image and target choice', positive('seed', true), 0)
    .option('--report <dir>', 'write JSON, Markdown, the image panels and the latent trajectory here')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const model = loadModel(o.model);
      try {
        const ds = await testSetFor(model, o.dataset);
        if (o.n < 1) throw new InvalidArgumentError('--n must be at least 1');
        if (o.batch < 1) throw new InvalidArgumentError('--batch must be at least 1');
        const reference = await ensureReference(o.model, model, o.dataset);
        const bar = phaseBar('attacking');
        const run = await runAttack(
          model,
          o.model,
          ds,
          reference,
          { n: o.n, seed: o.seed, kappa: o.kappa, d: o.d, c: o.c, lr: o.lr, patience: o.patience, maxSteps: o.maxSteps, binarySearchSteps: o.binarySearch, batch: o.batch },
          { traceLatent: [0], onProgress: (done, _total, step) => bar.update(Math.min(step, o.maxSteps), o.maxSteps * Math.max(1, o.binarySearch)) },
        );
        bar.stop();
        if (o.report) {
          const files = await writeAttackReport(run, model, ds, o.report);
          if (!o.json) console.error(`wrote ${files.map((f) => join(o.report, f)).join(', ')}`);
        }
        console.log(o.json ? JSON.stringify(run.report, null, 2) : attackMarkdown([run.report]));
      } finally {
        model.dispose();
      }
    });
}
