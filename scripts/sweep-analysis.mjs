// What the scripts that look into finished β-sweeps share (attack-sensitivity.mjs, overconfidence.mjs):
// the <dataset>=<sweep folder> arguments, the models they read, medians, ρ with β, and the output files.
import { writeFileSync } from 'node:fs';
import { spearman } from '../dist/src/experiment/sweep_report.js';

/** The sweep models the analyses read, GCs in increasing β, then the DC. */
export const SWEEP_MODELS = ['beta-1', 'beta-2', 'beta-4', 'beta-8', 'beta-16', 'beta-32', 'beta-inf', 'dc'];

/** [dataset, sweep folder] pairs from `<dataset>=<folder>` arguments; prints the usage and exits on anything else. */
export function sweepArguments(script) {
  const sweeps = process.argv.slice(2).map((a) => a.split('='));
  if (!sweeps.length || sweeps.some((s) => s.length !== 2 || !s[0] || !s[1])) {
    console.error(`usage: node scripts/${script} <dataset>=<sweep folder> [...]`);
    process.exit(2);
  }
  return sweeps;
}

export const median = (values) => {
  const s = Array.from(values).sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : 0.5 * (s[s.length / 2 - 1] + s[s.length / 2]);
};

/** Spearman ρ of each key with β over the GC rows (SWEEP_MODELS order; null counts as missing). */
export function spearmanWithBeta(rows, keys) {
  const gcs = rows.filter((r) => r.model !== 'dc');
  const order = gcs.map((_, i) => i);
  return Object.fromEntries(keys.map((k) => [k, spearman(order, gcs.map((r) => r[k] ?? NaN))]));
}

/** Writes bench/results/<name>.json and .md and prints the Markdown. */
export function writeAnalysis(name, json, mdLines) {
  writeFileSync(`bench/results/${name}.json`, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(`bench/results/${name}.md`, mdLines.join('\n'));
  console.log(mdLines.join('\n'));
}
