/** CLI commands for the corruption benchmark: `corrupt` (images and the sample grid) and `robustness`. */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadInferenceModel } from '../onnx/runtime.js';
import type { EngineChoice } from '../onnx/runtime.js';
import { loadDataset } from '../data/registry.js';
import { datasetSize, firstN, sampleSize } from '../data/dataset.js';
import type { ImageDataset } from '../data/dataset.js';
import { checkCompatible } from '../eval/evaluate.js';
import { CORRUPTION_NAMES, SEVERITIES, checkCorruptionName, effectiveParameters, pixelScale } from '../corrupt/corruptions.js';
import type { CorruptionName } from '../corrupt/corruptions.js';
import { corruptDataset } from '../corrupt/dataset.js';
import { corruptionGridPng } from '../plots/corruption_grid.js';
import { parameterTable, robustnessEvaluation } from '../eval/robustness.js';
import type { RobustnessModel, RobustnessReport } from '../eval/robustness.js';
import { robustnessHtml, robustnessMarkdown } from '../eval/robustness_report.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { ensureReference, testSetFor } from './trust_commands.js';
import { modelOptions, phaseBar } from './progress.js';

function parseCorruptions(v: string): CorruptionName[] {
  if (v === 'all') return [...CORRUPTION_NAMES];
  try {
    return v.split(',').filter(Boolean).map(checkCorruptionName);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function parseSeverities(v: string): number[] {
  if (v === 'all') return [...SEVERITIES];
  const list = v.split(',').filter(Boolean).map(Number);
  for (const s of list) if (!Number.isInteger(s) || s < 1 || s > 5) throw new InvalidArgumentError(`severity "${v}" must be 1–5, a comma-separated list of them, or all`);
  return list;
}

const intOption = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
};

async function writeImages(ds: ImageDataset, dir: string, onProgress: (done: number, total: number) => void): Promise<void> {
  for (const cls of ds.classNames) mkdirSync(join(dir, cls), { recursive: true });
  const n = datasetSize(ds);
  const size = sampleSize(ds);
  const width = String(n - 1).length;
  for (let start = 0; start < n; start += 64) {
    const jobs: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(n, start + 64); i++) {
      const img = sharp(Buffer.from(ds.pixels.subarray(i * size, (i + 1) * size)), { raw: { width: ds.width, height: ds.height, channels: ds.channels as 1 | 3 } });
      jobs.push((ds.channels === 1 ? img.toColourspace('b-w') : img).png().toFile(join(dir, ds.classNames[ds.labels[i]], `${String(i).padStart(width, '0')}.png`)));
    }
    await Promise.all(jobs);
    onProgress(Math.min(n, start + 64), n);
  }
}

function formatParameterTable(h: number, w: number): string {
  const rows = [`Corruption parameters for ${h}×${w} images (CIFAR-10-C table; pixel-unit entries × ${pixelScale(h, w).toFixed(3)}):`, '', '| corruption | s1 | s2 | s3 | s4 | s5 |', '|---|---|---|---|---|---|'];
  for (const p of parameterTable(h, w)) rows.push(`| ${p.corruption} | ${p.effective.map((v) => v.map((x) => +x.toFixed(3)).join(', ')).join(' | ')} |`);
  return rows.join('\n');
}

/**
 * Writes robustness.json / .md / .html, the figures (SVG + PNG), a grid of test image 0 under every
 * corruption, and — when the baseline was run here — the baseline's own report for reuse.
 */
export async function writeRobustnessReport(
  report: RobustnessReport,
  dir: string,
  test: ImageDataset,
  seed: number,
  corruptions: readonly CorruptionName[],
  writeBaseline: boolean,
  /** compact: JSON, Markdown and the PNG figures only (what the benchmark keeps in the repository) */
  compact = false,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'robustness.json'), JSON.stringify(report, null, 2) + '\n');
  if (report.baseline && writeBaseline) writeFileAtomic(join(dir, 'baseline-robustness.json'), JSON.stringify(report.baseline, null, 2) + '\n');
  writeFileAtomic(join(dir, 'robustness.md'), robustnessMarkdown(report));
  const { robustnessFigures } = await import('../plots/robustness.js');
  const figures = await robustnessFigures(report);
  for (const f of figures) {
    if (!compact) writeFileSync(join(dir, `${f.name}.svg`), f.svg);
    writeFileSync(join(dir, `${f.name}.png`), f.png);
  }
  if (compact) return;
  const n = sampleSize(test);
  const grid = await corruptionGridPng(test.pixels.subarray(0, n), test.height, test.width, test.channels, 0, { seed, corruptions, title: `${test.name} #0 under every corruption` });
  writeFileSync(join(dir, 'corruptions_grid.png'), grid);
  const html = robustnessHtml(report, [...figures.map((f) => ({ title: f.title, png: f.png })), { title: 'Test image 0 under every corruption and severity', png: grid }]);
  writeFileAtomic(join(dir, 'robustness.html'), html);
}

export function addRobustnessCommands(program: Command): void {
  program
    .command('corrupt')
    .description('write corrupted copies of a data set (15 Hendrycks–Dietterich corruptions × 5 severities) and/or a grid figure of one sample under all of them')
    .option('--dataset <name>', 'data set', 'mnist')
    .option('--split <split>', 'train | test', 'test')
    .option('--corruption <names>', `comma-separated names or all: ${CORRUPTION_NAMES.join(', ')}`, parseCorruptions)
    .option('--severity <levels>', '1–5, a comma-separated list, or all', parseSeverities)
    .option('--limit <n>', 'only the first n images', intOption('limit'))
    .option('--seed <n>', 'seed of the random corruptions', intOption('seed'), 0)
    .option('--out <dir>', 'folder for the PNGs: <dir>/<class>/<index>.png for one setting, <dir>/<corruption>/<severity>/<class>/… for several')
    .option('--grid <file>', 'write a PNG grid of one image under every corruption and severity')
    .option('--index <i>', 'image shown in the grid', intOption('index'), 0)
    .option('--list', 'print the parameter table for this data set\'s image size', false)
    .action(async (o) => {
      if (!o.out && !o.grid && !o.list) throw new InvalidArgumentError('nothing to do: give --out (with --corruption and --severity), --grid, or --list');
      if (o.out && (!o.corruption || !o.severity)) throw new InvalidArgumentError('--out needs --corruption and --severity (names/levels or all)');
      if (o.split !== 'train' && o.split !== 'test') throw new InvalidArgumentError(`--split must be train or test, got "${o.split}"`);
      const full = await loadDataset(o.dataset, o.split);
      if (o.list) console.log(formatParameterTable(full.height, full.width));
      if (o.grid) {
        if (o.index >= datasetSize(full)) throw new InvalidArgumentError(`--index ${o.index} is beyond the ${datasetSize(full)} images of ${full.name}`);
        const n = sampleSize(full);
        const png = await corruptionGridPng(full.pixels.subarray(o.index * n, (o.index + 1) * n), full.height, full.width, full.channels, o.index, {
          seed: o.seed,
          title: `${full.name} #${o.index} (${full.classNames[full.labels[o.index]]}), seed ${o.seed}`,
        });
        writeFileAtomic(o.grid, png);
        console.error(`wrote ${o.grid}`);
      }
      if (o.out) {
        const ds = firstN(full, o.limit);
        const settings = (o.corruption as CorruptionName[]).flatMap((c) => (o.severity as number[]).map((s) => [c, s] as const));
        const single = settings.length === 1;
        const bar = phaseBar('corrupting');
        for (const [c, s] of settings) {
          const corrupted = await corruptDataset(ds, c, s, { seed: o.seed });
          const dir = single ? o.out : join(o.out, c, String(s));
          await writeImages(corrupted, dir, (d, t) => bar.update(d, t));
          console.error(`${c} severity ${s}: ${datasetSize(corrupted)} images → ${dir}`);
        }
        bar.stop();
        mkdirSync(o.out, { recursive: true });
        const meta = {
          source: full.name,
          images: datasetSize(ds),
          seed: o.seed,
          settings: settings.map(([c, s]) => ({ corruption: c, severity: s, parameters: effectiveParameters(c, s, ds.height, ds.width) })),
        };
        writeFileSync(join(o.out, 'corruption.json'), JSON.stringify(meta, null, 2) + '\n');
      }
    });

  modelOptions(
    program
      .command('robustness')
      .description('error, mCE / rel. mCE (against a baseline), Δ entropy and likelihood OoD AUROC under 15 corruptions × 5 severities (paper Table 5)')
  )
    .option('--dataset <name>', 'data set (its test split is corrupted)', 'mnist')
    .option('--baseline <dir|json>', 'baseline classifier (model folder, run on the same images) or its saved robustness report (JSON) for mCE')
    .option('--limit <n>', 'only the first n test images', intOption('limit'))
    .option('--corruptions <names>', 'comma-separated corruption names or all', parseCorruptions, [...CORRUPTION_NAMES])
    .option('--severities <levels>', 'comma-separated severities or all', parseSeverities, [...SEVERITIES])
    .option('--seed <n>', 'seed of the random corruptions', intOption('seed'), 0)
    .option('--report <dir>', 'write robustness.json / .md / .html, figures, and the baseline\'s own report here')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      const test = await testSetFor(model, o.dataset, o.limit);
      const target: RobustnessModel = { name: o.model, model, reference: await ensureReference(o.model, model, o.dataset) };
      let baseline: RobustnessModel | RobustnessReport | null = null;
      let baselineModel: Awaited<ReturnType<typeof loadInferenceModel>> | null = null;
      if (o.baseline) {
        if (!existsSync(o.baseline)) throw new InvalidArgumentError(`--baseline ${o.baseline} does not exist`);
        if (o.baseline.endsWith('.json')) {
          let parsed: RobustnessReport;
          try {
            parsed = JSON.parse(readFileSync(o.baseline, 'utf8')) as RobustnessReport;
          } catch (e) {
            throw new InvalidArgumentError(`cannot read baseline report ${o.baseline}: ${(e as Error).message}`);
          }
          baseline = parsed;
        } else {
          baselineModel = await loadInferenceModel(o.baseline, o.engine as EngineChoice);
          checkCompatible(baselineModel, test);
          baseline = { name: o.baseline, model: baselineModel, reference: await ensureReference(o.baseline, baselineModel, o.dataset) };
        }
      }
      const bar = phaseBar('robustness');
      const report = await robustnessEvaluation(test, target, baseline, {
        corruptions: o.corruptions,
        severities: o.severities,
        seed: o.seed,
        onProgress: (phase, d, t) => phase === 'corruptions' && bar.update(d, t),
      });
      bar.stop();
      if (o.report) {
        await writeRobustnessReport(report, o.report, test, o.seed, o.corruptions, baselineModel !== null);
        if (!o.json) console.error(`wrote ${join(o.report, 'robustness.{json,md,html}')}, figures${baselineModel ? ', baseline-robustness.json (reuse with --baseline)' : ''}`);
      }
      console.log(o.json ? JSON.stringify(report, null, 2) : robustnessMarkdown(report));
      await model.dispose();
      await baselineModel?.dispose();
    });
}
