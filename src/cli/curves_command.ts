/** `trustgc curves RUN…`: training curves of one or more runs (or zoo models) as a plot and a Markdown table. */
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/safetensors.js';
import { writePlot } from '../plots/render.js';
import { trainingCurvesSpec } from '../plots/training_curves.js';
import { curvesMarkdown, readTrainingCurve } from '../train/training_curves.js';

export function addCurvesCommand(program: Command): void {
  program
    .command('curves')
    .description('training curves (loss, accuracy, bits/dim per epoch) of runs or zoo models, overlaid: curves.png/svg, curves.md, curves.json')
    .argument('<folders...>', 'run folders (metrics.jsonl) or zoo model folders (training_curve.json)')
    .option('--labels <names>', 'comma-separated legend names, one per folder (default: folder names)')
    .option('--title <text>', 'plot title', 'Training curves')
    .option('--out <dir>', 'output folder', 'curves')
    .action(async (folders: string[], o: { labels?: string; title: string; out: string }) => {
      const labels = o.labels?.split(',');
      if (labels && labels.length !== folders.length) {
        throw new Error(`--labels names ${labels.length} runs but ${folders.length} folders were given`);
      }
      const curves = folders.map((f, i) => readTrainingCurve(f, labels?.[i]));
      // runs are told apart by label (colour, table rows): two folders of one name would merge
      const seen = new Set<string>();
      for (const c of curves) {
        if (seen.has(c.label)) throw new Error(`two runs are labelled "${c.label}": name them with --labels`);
        seen.add(c.label);
      }
      mkdirSync(o.out, { recursive: true });
      const md = curvesMarkdown(curves);
      writeFileAtomic(join(o.out, 'curves.md'), md);
      writeFileAtomic(join(o.out, 'curves.json'), JSON.stringify(curves, (_k, v) => (v === Infinity ? 'inf' : v), 2) + '\n');
      const files = await writePlot(trainingCurvesSpec(curves, o.title), o.out, 'curves');
      console.log(md.split('\n## ')[0].trimEnd());
      console.log(`\nwrote ${['curves.md', 'curves.json', ...files].map((f) => join(o.out, f)).join(', ')}`);
    });
}
