/** Training curves of one or more runs: loss, accuracy and bits/dim per epoch, one colour per run. */
import type { TopLevelSpec } from 'vega-lite';
import type { TrainingCurve } from '../train/training_curves.js';

const PANELS = ['training loss', 'training accuracy (%)', 'held-out accuracy (%)', 'held-out bits/dim'] as const;

export function trainingCurvesSpec(curves: TrainingCurve[], title = 'Training curves'): TopLevelSpec {
  const values: Array<{ run: string; epoch: number; panel: string; value: number; point: string }> = [];
  for (const c of curves) {
    for (const p of c.points) {
      const add = (panel: (typeof PANELS)[number], value: number | null, point = 'epoch mean') => {
        if (value !== null) values.push({ run: c.label, epoch: p.epoch, panel, value, point });
      };
      add('training loss', p.trainLoss);
      add('training accuracy (%)', p.trainAccuracy === null ? null : 100 * p.trainAccuracy);
      const point = p.final ? 'whole test set, final' : `first ${p.testImages ?? '?'} test images`;
      add('held-out accuracy (%)', p.testAccuracy === null ? null : 100 * p.testAccuracy, point);
      add('held-out bits/dim', p.testBitsPerDim, point);
    }
  }
  const panels = PANELS.filter((name) => values.some((v) => v.panel === name));
  // legend in the order the runs were given; category10 keeps neighbouring runs' colours apart
  const color = { field: 'run', type: 'nominal' as const, title: 'run', scale: { domain: curves.map((c) => c.label), scheme: 'category10' }, legend: { labelLimit: 320 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { field: 'panel', type: 'nominal', sort: panels as unknown as string[], title: null },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 300,
      height: 190,
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: {
            x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
            y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
            color,
          },
        },
        {
          mark: { type: 'point', filled: true, size: 28 },
          encoding: {
            x: { field: 'epoch', type: 'quantitative' },
            y: { field: 'value', type: 'quantitative' },
            color,
            shape: { field: 'point', type: 'nominal', title: 'point', legend: { labelLimit: 320 } },
            tooltip: [{ field: 'run' }, { field: 'epoch' }, { field: 'value', format: '.3f' }, { field: 'point' }],
          },
        },
      ],
    },
  } as TopLevelSpec;
}
