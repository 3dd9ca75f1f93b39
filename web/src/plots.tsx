/** The explorer's figures, drawn as SVG (and canvas for images) from the library's data. */
import { useEffect, useRef } from 'preact/hooks';
import type { ClassSimilarity, Heatmaps, ImageAnalysis, OodReference } from './engine.js';
import { AXIS_90, RADIUS_90 } from '../../src/explain/decision_space.js';
import type { DecisionSpace } from '../../src/explain/decision_space.js';

const RED = '#c9483e';
const BLUE = '#3b6fb6';
const GREY = '#8a8a8a';

/** viridis, by linear interpolation between five of its stops */
function viridis(t: number): string {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const u = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const c = stops[i].map((v, k) => Math.round(v + f * (stops[i + 1][k] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function PosteriorBars({ analysis, names }: { analysis: ImageAnalysis; names: string[] }) {
  const order = Array.from(analysis.posterior.keys()).sort((a, b) => analysis.posterior[b] - analysis.posterior[a]).slice(0, 10);
  const row = 22;
  const labelW = 110;
  const barW = 220;
  return (
    <svg data-testid="posterior-bars" width={labelW + barW + 70} height={order.length * row + 4} role="img" aria-label="class posteriors">
      {order.map((c, i) => {
        const p = analysis.posterior[c];
        return (
          <g key={c} transform={`translate(0 ${i * row})`}>
            <text x={labelW - 6} y={15} text-anchor="end" font-size="13">{names[c]}</text>
            <rect class="bar" x={labelW} y={3} width={Math.max(1, p * barW)} height={row - 6} fill={i === 0 ? RED : i === 1 ? BLUE : GREY} />
            <text x={labelW + Math.max(1, p * barW) + 6} y={15} font-size="12">{(100 * p).toFixed(p >= 0.001 ? 1 : 3)} %</text>
          </g>
        );
      })}
    </svg>
  );
}

/** The image's L_X against the histogram of the reference (training) images; shaded: the two tails the test rejects at α. */
export function LikelihoodPlot({ reference, lx, alpha }: { reference: OodReference; lx: number; alpha: number }) {
  const v = reference.values;
  const q = (f: number) => v[Math.min(v.length - 1, Math.max(0, Math.floor(f * v.length)))];
  let lo = q(0.001);
  let hi = q(0.999);
  const pad = 0.08 * (hi - lo || 1);
  lo = Math.min(lo, lx) - pad;
  hi = Math.max(hi, lx) + pad;
  const bins = 40;
  const counts = new Array(bins).fill(0);
  for (const x of v) {
    const b = Math.floor(((x - lo) / (hi - lo)) * bins);
    if (b >= 0 && b < bins) counts[b]++;
  }
  const W = 380;
  const H = 150;
  const top = 10;
  const bottom = 30;
  const max = Math.max(...counts);
  const sx = (x: number) => ((x - lo) / (hi - lo)) * W;
  const [lowCut, highCut] = [q(alpha / 2), q(1 - alpha / 2)];
  return (
    <svg data-testid="likelihood-plot" width={W} height={H} role="img" aria-label="likelihood of the image against the training histogram">
      <rect x={0} y={top} width={Math.max(0, sx(lowCut))} height={H - top - bottom} fill="#f3d3d0" />
      <rect x={sx(highCut)} y={top} width={Math.max(0, W - sx(highCut))} height={H - top - bottom} fill="#f3d3d0" />
      {counts.map((c, i) => (
        <rect class="hist" key={i} x={(i * W) / bins + 0.5} y={H - bottom - ((H - top - bottom) * c) / max} width={W / bins - 1} height={((H - top - bottom) * c) / max} fill="#9bb3d6" />
      ))}
      <line x1={sx(lx)} x2={sx(lx)} y1={top - 6} y2={H - bottom} stroke="black" stroke-width={2} />
      <text x={Math.min(W - 4, Math.max(4, sx(lx)))} y={H - bottom + 14} font-size="11" text-anchor={sx(lx) > W / 2 ? 'end' : 'start'}>this image: {lx.toFixed(3)}</text>
      <text x={0} y={H - 6} font-size="10" fill="#555">−log q(x)/dim (nats): right = less likely; shaded: rejected (α = {alpha})</text>
    </svg>
  );
}

/** Fig. 6: the five nearest class means in their span, 90 % regions (half-ellipses) and the image. */
export function DecisionSpacePlot({ ds, names }: { ds: DecisionSpace; names: string[] }) {
  const W = 380;
  const H = 240;
  const m = 28;
  const hs = [...ds.means.flatMap((p) => [p.h - AXIS_90, p.h + AXIS_90]), ds.input.h];
  const rs = [...ds.means.map((p) => p.r + RADIUS_90), ds.input.r, 0];
  const [h0, h1] = [Math.min(...hs), Math.max(...hs)];
  const r1 = Math.max(...rs);
  // one unit of h and r in pixels, chosen so 90 % regions look round
  const unit = Math.min((W - 2 * m) / ((h1 - h0) / AXIS_90), (H - 2 * m) / (r1 / RADIUS_90));
  const X = (h: number) => m + ((h - h0) / AXIS_90) * unit;
  const Y = (r: number) => H - m - (r / RADIUS_90) * unit;
  const colour = (i: number) => (i === 0 ? RED : i === 1 ? BLUE : GREY);
  return (
    <svg data-testid="decision-space" width={W} height={H} role="img" aria-label="decision space">
      <line x1={m} x2={W - m} y1={Y(0)} y2={Y(0)} stroke="#ccc" />
      {ds.means.map((p, i) => {
        const pts = Array.from({ length: 49 }, (_, k) => {
          const t = (Math.PI * k) / 48;
          return `${X(p.h + AXIS_90 * Math.cos(t)).toFixed(1)},${Y(Math.max(0, p.r + RADIUS_90 * Math.sin(t))).toFixed(1)}`;
        });
        return (
          <g key={p.cls} class="class-mean">
            <polyline points={pts.join(' ')} fill="none" stroke={colour(i)} stroke-dasharray="4 3" opacity={0.8} />
            <text x={X(p.h)} y={Y(p.r) + 5} font-size="16" text-anchor="middle" fill={colour(i)}>+</text>
            <text x={X(p.h)} y={Y(p.r) - 8} font-size="11" text-anchor="middle">{names[p.cls]} ({ds.posterior[i].toFixed(2)})</text>
          </g>
        );
      })}
      <circle data-testid="input-point" cx={X(ds.input.h)} cy={Y(ds.input.r)} r={5} fill="black" />
      <text x={m} y={H - 6} font-size="11" fill="#555">→ along μ {names[ds.classes[0]]} → μ {names[ds.classes[1]]}; ↑ distance from that axis; off the plane: {ds.offSpan.toFixed(1)}</text>
    </svg>
  );
}

function drawImage(canvas: HTMLCanvasElement, pixels: Float32Array, w: number, h: number, c: number, map?: ArrayLike<number>, scale?: number) {
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    let rgb = [0, 1, 2].map((k) => 255 * pixels[i * c + (c === 1 ? 0 : k)]);
    if (map && scale) {
      const a = Math.min(1, Math.abs(map[i]) / scale) * 0.75;
      const tint = map[i] >= 0 ? [220, 40, 40] : [40, 80, 220];
      rgb = rgb.map((v, k) => (1 - a) * 0.6 * v + a * tint[k]);
    }
    img.data.set([...rgb.map(Math.round), 255], 4 * i);
  }
  const off = document.createElement('canvas');
  off.width = w;
  off.height = h;
  off.getContext('2d')!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
}

export function ImagePreview({ pixels, shape, size = 140 }: { pixels: Float32Array; shape: [number, number, number]; size?: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current) drawImage(ref.current, pixels, shape[1], shape[0], shape[2]);
  }, [pixels, shape]);
  return <canvas data-testid="preview" ref={ref} width={size} height={size} />;
}

/** Per-class evidence laid over the image: red pixels raise log q(y|x), blue ones lower it. */
export function HeatmapView({ pixels, shape, heatmaps, names }: { pixels: Float32Array; shape: [number, number, number]; heatmaps: Heatmaps; names: string[] }) {
  const refs = useRef<(HTMLCanvasElement | null)[]>([]);
  useEffect(() => {
    const scale = Math.max(1e-12, ...heatmaps.maps.flatMap((m) => Array.from(m, Math.abs)));
    heatmaps.maps.forEach((map, i) => {
      const canvas = refs.current[i];
      if (!canvas) return;
      if (heatmaps.size === shape[0]) drawImage(canvas, pixels, shape[1], shape[0], shape[2], map, scale);
      else {
        // coarse DCT-position maps: upsample by nearest neighbour onto the image grid
        const n = heatmaps.size;
        const up = Float32Array.from({ length: shape[0] * shape[1] }, (_, p) => map[Math.floor(((p / shape[1]) | 0) * n / shape[0]) * n + Math.floor(((p % shape[1]) * n) / shape[1])]);
        drawImage(canvas, pixels, shape[1], shape[0], shape[2], up, scale);
      }
    });
  }, [pixels, shape, heatmaps]);
  return (
    <div data-testid="heatmap" class="heatmaps">
      {heatmaps.classes.map((c, i) => (
        <figure key={c}>
          <canvas ref={(el) => { refs.current[i] = el; }} width={140} height={140} />
          <figcaption>{names[c]}: q(y|x) = {Math.exp(heatmaps.logPosterior[i]).toFixed(3)}</figcaption>
        </figure>
      ))}
    </div>
  );
}

/** Figs. 8–9: expected confusion 1 − Φ(Δμ/2) of every class pair, in clustering order. */
export function SimilarityMatrix({ sim, highlight }: { sim: ClassSimilarity; highlight?: number }) {
  const m = sim.classes.length;
  const label = m <= 30 ? 12 + 6.5 * Math.max(...sim.classes.map((c) => c.length)) : 0;
  const cell = Math.max(2, Math.min(24, Math.floor((260 - label) / m)));
  const logs = Array.from(sim.uncertainty).filter((_, k) => Math.floor(k / m) !== k % m).map((u) => Math.log10(Math.max(1e-12, u)));
  const [lo, hi] = [Math.min(...logs), Math.max(...logs)];
  return (
    <svg data-testid="similarity-matrix" width={label + m * cell + 4} height={label + m * cell + 4} role="img" aria-label="class similarity">
      {sim.order.map((a, i) =>
        sim.order.map((b, j) => {
          const u = sim.uncertainty[a * m + b];
          const t = a === b ? 1 : (Math.log10(Math.max(1e-12, u)) - lo) / (hi - lo || 1);
          return (
            <rect class="cell" key={`${a}-${b}`} x={label + j * cell} y={label + i * cell} width={cell} height={cell} fill={a === b ? '#eee' : viridis(t)} stroke={a === highlight || b === highlight ? 'black' : 'none'} stroke-width={0.6}>
              <title>{`${sim.classes[a]} / ${sim.classes[b]}: Δμ = ${sim.distances[a * m + b].toFixed(2)}, expected confusion ${(100 * u).toPrecision(3)} %`}</title>
            </rect>
          );
        }),
      )}
      {label > 0 &&
        sim.order.map((a, i) => (
          <g key={a}>
            <text x={label - 4} y={label + i * cell + cell * 0.7} font-size="11" text-anchor="end">{sim.classes[a]}</text>
            <text x={label + i * cell + cell * 0.3} y={label - 4} font-size="11" transform={`rotate(-60 ${label + i * cell + cell * 0.3} ${label - 4})`}>{sim.classes[a]}</text>
          </g>
        ))}
    </svg>
  );
}
