#!/usr/bin/env node
// Copies a finished β-sweep (experiments/<folder>) into bench/results/<name>.md + bench/results/<name>/:
// the per-model evaluation JSON, the figures, and report.md with its figure links pointed at the copy.
// The latent-layout figures go as PNG (the SVGs hold every point and are several MB each).
// Usage: node scripts/publish-sweep.mjs experiments/beta-sweep-cifar10-3ep beta-sweep-cifar10-3ep
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [experiment, name] = process.argv.slice(2);
if (!experiment || !name) {
  console.error('usage: node scripts/publish-sweep.mjs <experiment folder> <name under bench/results>');
  process.exit(2);
}
const reportMd = join(experiment, 'report.md');
if (!existsSync(reportMd)) {
  console.error(`${reportMd} does not exist: run the sweep to the end first`);
  process.exit(1);
}
const target = join('bench', 'results', name);
mkdirSync(target, { recursive: true });

const evaluations = readdirSync(join(experiment, 'eval')).filter((f) => f.endsWith('.json') && !f.endsWith('-robustness.json'));
for (const file of evaluations) copyFileSync(join(experiment, 'eval', file), join(target, file));
const figures = readdirSync(join(experiment, 'report')).filter(
  (f) => (f.startsWith('latent-') && f.endsWith('.png')) || (!f.startsWith('latent-') && f.endsWith('.svg')),
);
for (const file of figures) copyFileSync(join(experiment, 'report', file), join(target, file));

const text = readFileSync(reportMd, 'utf8')
  .replace(/\]\(report\/(latent-[^)]+)\.svg\)/g, `](${name}/$1.png)`)
  .replace(/\]\(report\/([^)]+)\)/g, `](${name}/$1)`);
writeFileSync(join('bench', 'results', `${name}.md`), text);
console.log(`${evaluations.length} evaluations and ${figures.length} figures → ${target}, report → ${target}.md`);
