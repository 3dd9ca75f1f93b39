/**
 * Adversarial benchmark on MNIST (paper §4.6, Tables 7–9 at our scale), timed: the same 200 test
 * images with the same random targets, attacked with CW L2 (c = 10, Adam lr 0.01, patience 20,
 * at most --max-steps steps) per (κ, d) setting, against the GC and its DC baseline.
 * Writes bench/results/attack.{json,md} and panels / trajectories under bench/results/attack/.
 *
 *   npm run build && node dist/bench/attack.js --gc runs/bench-mnist-beta1 --dc runs/dc-tiny-mnist
 */
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { initEngine, engineInfo } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/registry.js';
import { loadModel } from '../src/io/checkpoint.js';
import { attackMarkdown, kappaText, runAttack } from '../src/attack/attack_eval.js';
import type { AttackReport } from '../src/attack/attack_eval.js';
import { ensureReference } from '../src/cli/trust_commands.js';
import { writeAttackReport } from '../src/cli/attack_commands.js';
import { parseKappa } from '../src/cli/attack_commands.js';
import { projectRoot } from '../src/util/paths.js';

const o = new Command('attack-bench')
  .requiredOption('--gc <dir>', 'trained generative classifier (MNIST)')
  .option('--dc <dir>', 'trained discriminative baseline (MNIST)')
  .option('--n <count>', 'images', Number, 200)
  .option('--gc-settings <list>', 'κ:d pairs for the GC', '1:0,1:66,1:1000,0.01:0,inf:0')
  .option('--dc-settings <list>', 'κ values for the DC (d = 0)', '1,0.01,inf')
  .option('--max-steps <n>', 'step cap', Number, 500)
  .parse()
  .opts();

await initEngine({ quiet: true });
const outDir = join(projectRoot(), 'bench', 'results');
const figDir = join(outDir, 'attack');
mkdirSync(figDir, { recursive: true });
const test = await loadDataset('mnist', 'test');
const reports: AttackReport[] = [];
const jobs: Array<{ dir: string; label: string; kappa: number; d: number }> = [];
for (const pair of String(o.gcSettings).split(',').filter(Boolean)) {
  const [k, d] = pair.split(':');
  jobs.push({ dir: o.gc, label: 'GC', kappa: parseKappa(k), d: Number(d) });
}
if (o.dc) for (const k of String(o.dcSettings).split(',').filter(Boolean)) jobs.push({ dir: o.dc, label: 'DC', kappa: parseKappa(k), d: 0 });

for (const job of jobs) {
  const model = loadModel(job.dir);
  const reference = await ensureReference(job.dir, model, 'mnist');
  console.error(`… ${job.label} κ = ${kappaText(job.kappa)}, d = ${job.d}`);
  const run = await runAttack(model, `${job.label} ${job.dir}`, test, reference, { n: o.n, kappa: job.kappa, d: job.d, maxSteps: o.maxSteps }, { traceLatent: [0] });
  await writeAttackReport(run, model, test, join(figDir, job.label.toLowerCase()), true);
  reports.push(run.report);
  console.error(`  ${run.report.seconds.toFixed(0)} s, success ${run.report.metrics.success.toFixed(1)} %`);
  model.dispose();
}

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}`;
const engine = `tfjs ${engineInfo().backend}${engineInfo().native ? ' + oneDNN' : ''}`;
writeFileSync(join(outDir, 'attack.json'), JSON.stringify({ date: new Date().toISOString(), machine, engine, n: o.n, maxSteps: o.maxSteps, reports: reports.map((r) => ({ ...r, images: undefined })) }, null, 2) + '\n');
const slowest = Math.max(...reports.map((r) => r.seconds));
const md = [
  `# Carlini–Wagner attacks on MNIST (${new Date().toISOString().slice(0, 10)}, ${machine}, ${engine})`,
  '',
  `${o.n} test images with fixed random targets (seed 0), c = 10, Adam lr 0.01, stop after 20 steps without improvement or at ${o.maxSteps} steps; the iterate with the lowest objective is reported. Slowest setting: ${(slowest / 60).toFixed(1)} min (target < 15 min: ${slowest < 900 ? 'met' : 'NOT met'}).`,
  '',
  attackMarkdown(reports),
  '',
  'Confidence: mean max posterior of the attacked images. Corruption: mean over pixels of |x_att − x| (per-pixel L2 over channels; MNIST has one). Success: attacked image classified as the target. OoD: AUROC (%) of attacked vs. clean images under the likelihood tests (p-values against 5 000 training images). Entropy in nats. p(x) Val: AUROC of the clean test images against the training reference itself (≈ 50 expected).',
  '',
  `Command: \`npm run bench:attack -- --gc ${o.gc}${o.dc ? ` --dc ${o.dc}` : ''}\` (panels and latent trajectories in bench/results/attack/).`,
].join('\n');
writeFileSync(join(outDir, 'attack.md'), md + '\n');
console.log(md);
