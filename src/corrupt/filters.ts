/**
 * The image filters the corruptions are built from, on single planes (h·w floats, row-major).
 * They follow the semantics of the libraries the reference corruption code calls (scipy.ndimage,
 * skimage, OpenCV), including their border rules, because a corruption's strength at the image
 * edge depends on them. Written here rather than taken from a package: no maintained JavaScript
 * library offers these border modes and interpolation conventions together.
 */

/**
 * How indices outside [0, n) are mapped back:
 * - nearest:    aaa|abcd|ddd   (scipy 'nearest', skimage's default)
 * - reflect:    cba|abcd|dcb   (scipy/skimage 'reflect', half-sample symmetric)
 * - reflect101: dcb|abcd|cba   (OpenCV's default BORDER_REFLECT_101, scipy 'mirror')
 */
export type Border = 'nearest' | 'reflect' | 'reflect101';

export function borderIndex(i: number, n: number, mode: Border): number {
  if (i >= 0 && i < n) return i;
  if (n === 1) return 0;
  if (mode === 'nearest') return i < 0 ? 0 : n - 1;
  if (mode === 'reflect') {
    const period = 2 * n;
    let k = ((i % period) + period) % period;
    return k < n ? k : period - 1 - k;
  }
  const period = 2 * n - 2;
  let k = ((i % period) + period) % period;
  return k < n ? k : period - k;
}

/** Normalised 1-D Gaussian with scipy's radius rule: round(truncate·σ) taps each side. */
export function gaussianKernel1d(sigma: number, truncate: number): Float32Array {
  if (!(sigma > 0)) return Float32Array.of(1);
  const radius = Math.floor(truncate * sigma + 0.5);
  const k = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  return k;
}

/** Separable correlation of a plane with kernels along x (columns) and y (rows). */
export function separable(plane: Float32Array, h: number, w: number, kx: Float32Array, ky: Float32Array, mode: Border): Float32Array {
  const rx = (kx.length - 1) >> 1;
  const ry = (ky.length - 1) >> 1;
  const tmp = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -rx; t <= rx; t++) s += kx[t + rx] * plane[row + borderIndex(x + t, w, mode)];
      tmp[row + x] = s;
    }
  }
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -ry; t <= ry; t++) s += ky[t + ry] * tmp[borderIndex(y + t, h, mode) * w + x];
      out[y * w + x] = s;
    }
  }
  return out;
}

/** Gaussian blur (skimage.filters.gaussian / scipy gaussian_filter on one plane). */
export function gaussianBlur(plane: Float32Array, h: number, w: number, sigma: number, mode: Border = 'nearest', truncate = 4): Float32Array {
  if (!(sigma > 0)) return plane.slice();
  const k = gaussianKernel1d(sigma, truncate);
  if (k.length === 1) return plane.slice();
  return separable(plane, h, w, k, k, mode);
}

/** 2-D correlation with a kh×kw kernel anchored at its centre (cv2.filter2D, reflect-101 border). */
export function filter2d(plane: Float32Array, h: number, w: number, kernel: Float32Array, kh: number, kw: number): Float32Array {
  const ry = (kh - 1) >> 1;
  const rx = (kw - 1) >> 1;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = 0; dy < kh; dy++) {
        const row = borderIndex(y + dy - ry, h, 'reflect101') * w;
        for (let dx = 0; dx < kw; dx++) {
          const kv = kernel[dy * kw + dx];
          if (kv !== 0) s += kv * plane[row + borderIndex(x + dx - rx, w, 'reflect101')];
        }
      }
      out[y * w + x] = s;
    }
  }
  return out;
}

/** Bilinear sample at real coordinates (y, x), data extended beyond the edges by `mode`. */
export function bilinear(plane: Float32Array, h: number, w: number, y: number, x: number, mode: Border): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const ya = borderIndex(y0, h, mode) * w;
  const yb = borderIndex(y0 + 1, h, mode) * w;
  const xa = borderIndex(x0, w, mode);
  const xb = borderIndex(x0 + 1, w, mode);
  return (1 - fy) * ((1 - fx) * plane[ya + xa] + fx * plane[ya + xb]) + fy * ((1 - fx) * plane[yb + xa] + fx * plane[yb + xb]);
}

/**
 * scipy.ndimage.zoom with order 1: output size round(n·z) per axis, output index o sampling input
 * coordinate o·(n−1)/(m−1) (corners aligned).
 */
export function zoomBilinear(plane: Float32Array, h: number, w: number, zy: number, zx: number): { data: Float32Array; h: number; w: number } {
  const oh = Math.round(h * zy);
  const ow = Math.round(w * zx);
  const sy = oh > 1 ? (h - 1) / (oh - 1) : 0;
  const sx = ow > 1 ? (w - 1) / (ow - 1) : 0;
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) out[y * ow + x] = bilinear(plane, h, w, y * sy, x * sx, 'nearest');
  }
  return { data: out, h: oh, w: ow };
}

/**
 * Zoom into the centre by factor z ≥ 1 keeping the size (the reference's clipped_zoom): crop the
 * central ceil(n/z) pixels, zoom them, trim the overhang evenly.
 */
export function clippedZoom(plane: Float32Array, h: number, w: number, z: number): Float32Array {
  const ch = Math.ceil(h / z);
  const cw = Math.ceil(w / z);
  const top = (h - ch) >> 1;
  const left = (w - cw) >> 1;
  const crop = new Float32Array(ch * cw);
  for (let y = 0; y < ch; y++) crop.set(plane.subarray((top + y) * w + left, (top + y) * w + left + cw), y * cw);
  const zoomed = zoomBilinear(crop, ch, cw, z, z);
  const ty = (zoomed.h - h) >> 1;
  const tx = (zoomed.w - w) >> 1;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sy = Math.min(zoomed.h - 1, Math.max(0, y + ty));
      const sx = Math.min(zoomed.w - 1, Math.max(0, x + tx));
      out[y * w + x] = zoomed.data[sy * zoomed.w + sx];
    }
  }
  return out;
}

/** The affine map taking three source points to three destination points (cv2.getAffineTransform). */
export function affineFromPoints(src: number[][], dst: number[][]): number[] {
  // Solve [x y 1]·(a b c) = x' and likewise for y' by Cramer's rule.
  const det3 = (m: number[][]) =>
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const a = src.map(([x, y]) => [x, y, 1]);
  const d = det3(a);
  if (Math.abs(d) < 1e-12) throw new Error('affineFromPoints: source points are collinear');
  const solve = (rhs: number[]) =>
    [0, 1, 2].map((col) => det3(a.map((row, r) => row.map((v, c) => (c === col ? rhs[r] : v)))) / d);
  const [m00, m01, m02] = solve(dst.map((p) => p[0]));
  const [m10, m11, m12] = solve(dst.map((p) => p[1]));
  return [m00, m01, m02, m10, m11, m12];
}

/**
 * cv2.warpAffine with bilinear interpolation: dst(x, y) = src(M⁻¹·(x, y)), M = [m00 m01 m02; m10 m11 m12].
 */
export function warpAffine(plane: Float32Array, h: number, w: number, m: number[], mode: Border): Float32Array {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x - c;
      const v = y - f;
      out[y * w + x] = bilinear(plane, h, w, id * u + ie * v, ia * u + ib * v, mode);
    }
  }
  return out;
}

/**
 * Linear motion blur with a one-sided Gaussian profile: the sum over i < 2r+1 of weight
 * exp(−i²/2σ²) times the image shifted by i pixels along the angle (edge pixels replicated).
 * The reference calls ImageMagick's MotionBlurImage(radius, sigma, angle); this is the same
 * kernel construction as that function and as the numpy port in the `imagecorruptions` package.
 */
export function motionBlur(plane: Float32Array, h: number, w: number, radius: number, sigma: number, angleDeg: number): Float32Array {
  const width = 2 * Math.max(0, Math.round(radius)) + 1;
  const weights = new Float64Array(width);
  let sum = 0;
  for (let i = 0; i < width; i++) {
    weights[i] = Math.exp((-i * i) / (2 * sigma * sigma));
    sum += weights[i];
  }
  const sin = Math.sin((angleDeg * Math.PI) / 180);
  const cos = Math.cos((angleDeg * Math.PI) / 180);
  const out = new Float32Array(h * w);
  for (let i = 0; i < width; i++) {
    const dy = -Math.ceil(i * sin - 0.5);
    const dx = -Math.ceil(i * cos - 0.5);
    if (Math.abs(dy) >= h || Math.abs(dx) >= w) break;
    const k = weights[i] / sum;
    for (let y = 0; y < h; y++) {
      const sy = Math.min(h - 1, Math.max(0, y - dy)) * w;
      for (let x = 0; x < w; x++) out[y * w + x] += k * plane[sy + Math.min(w - 1, Math.max(0, x - dx))];
    }
  }
  return out;
}

/**
 * PIL's resize with the BOX filter along one axis set (area averaging when shrinking, pixel
 * replication when enlarging), as used by the reference's pixelate.
 */
export function resizeBox(plane: Float32Array, h: number, w: number, oh: number, ow: number): Float32Array {
  const horizontal = boxWeights(w, ow);
  const vertical = boxWeights(h, oh);
  const tmp = new Float32Array(h * ow);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < ow; x++) {
      const { start, weights } = horizontal[x];
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k] * plane[y * w + start + k];
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const { start, weights } = vertical[y];
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < weights.length; k++) s += weights[k] * tmp[(start + k) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/** Pillow's precomputed coefficients (ImagingResample) for the box filter of support 0.5. */
function boxWeights(inSize: number, outSize: number): Array<{ start: number; weights: Float64Array }> {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 0.5 * filterscale;
  const box = (x: number) => (x >= -0.5 && x < 0.5 ? 1 : 0);
  const result: Array<{ start: number; weights: Float64Array }> = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5));
    const weights = new Float64Array(Math.max(0, xmax - xmin));
    let total = 0;
    for (let x = 0; x < weights.length; x++) {
      weights[x] = box((x + xmin - center + 0.5) / filterscale);
      total += weights[x];
    }
    if (total > 0) for (let x = 0; x < weights.length; x++) weights[x] /= total;
    result.push({ start: xmin, weights });
  }
  return result;
}
