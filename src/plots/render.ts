/**
 * Vega-Lite specifications to SVG (vega's headless renderer) and PNG (resvg). Plots are data first:
 * every figure is a Vega-Lite spec, so the browser explorer can render the same specs live.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return resvg.render().asPng();
}

/** Writes <name>.svg and <name>.png into dir; returns the file names. */
export async function writePlot(spec: TopLevelSpec, dir: string, name: string): Promise<string[]> {
  const svg = await renderSvg(spec);
  writeFileSync(join(dir, `${name}.svg`), svg);
  writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
  return [`${name}.svg`, `${name}.png`];
}
