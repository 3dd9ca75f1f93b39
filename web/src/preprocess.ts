/**
 * Pixels for the model from what the user gives the page: a drawing, or an image file.
 * Both end as [H·W·C] values in [0, 1] at the model's input size.
 */
import type { ModelConfig } from '../../src/gc/presets.js';

export interface ModelPixels {
  pixels: Float32Array;
  /** what was done to the input on the way (shown under the preview) */
  note: string;
}

function readPixels(canvas: HTMLCanvasElement, channels: number): { pixels: Float32Array; colour: boolean } {
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const n = canvas.width * canvas.height;
  const pixels = new Float32Array(n * channels);
  let colour = false;
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [data[4 * i], data[4 * i + 1], data[4 * i + 2]];
    if (r !== g || g !== b) colour = true;
    if (channels === 1) pixels[i] = (0.299 * r + 0.587 * g + 0.114 * b) / 255;
    else for (let k = 0; k < 3; k++) pixels[3 * i + k] = data[4 * i + k] / 255;
  }
  return { pixels, colour };
}

function canvasOf(width: number, height: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  return c;
}

/** An image file, resized (stretched) to the model's input; colour → grey for 1-channel models. */
export async function pixelsFromFile(file: Blob, config: ModelConfig): Promise<ModelPixels> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error('this file is not an image the browser can decode');
  }
  const { width, height, channels } = config.input;
  const c = canvasOf(width, height);
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  const notes = [`${bitmap.width}×${bitmap.height}${bitmap.width !== width || bitmap.height !== height ? ` resized to ${width}×${height}` : ''}`];
  bitmap.close();
  const { pixels, colour } = readPixels(c, channels);
  if (colour && channels === 1) notes.push('converted to greyscale');
  return { pixels, note: notes.join(', ') };
}

/**
 * A drawing (white strokes on black). For 28×28 greyscale models it is framed like MNIST: the
 * strokes' bounding box scaled into 20×20, then shifted so the centre of mass sits at the centre.
 */
export function pixelsFromDrawing(drawing: HTMLCanvasElement, config: ModelConfig): ModelPixels | null {
  const { width, height, channels } = config.input;
  const src = readPixels(drawing, 1).pixels;
  const W = drawing.width;
  const H = drawing.height;
  let [x0, y0, x1, y1] = [W, H, -1, -1];
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (src[y * W + x] > 0.1) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  if (x1 < 0) return null; // nothing drawn
  const out = canvasOf(width, height);
  const ctx = out.getContext('2d', { willReadFrequently: true })!;
  ctx.fillStyle = 'black';
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  if (width === 28 && height === 28 && channels === 1) {
    const bw = x1 - x0 + 1;
    const bh = y1 - y0 + 1;
    const s = 20 / Math.max(bw, bh);
    const [w, h] = [bw * s, bh * s];
    ctx.drawImage(drawing, x0, y0, bw, bh, (28 - w) / 2, (28 - h) / 2, w, h);
    // centre of mass to the middle (MNIST's framing)
    const { pixels } = readPixels(out, 1);
    let [m, cx, cy] = [0, 0, 0];
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const v = pixels[y * 28 + x];
      m += v;
      cx += v * x;
      cy += v * y;
    }
    const shifted = canvasOf(28, 28);
    const sctx = shifted.getContext('2d', { willReadFrequently: true })!;
    sctx.fillStyle = 'black';
    sctx.fillRect(0, 0, 28, 28);
    sctx.drawImage(out, Math.round(13.5 - cx / m), Math.round(13.5 - cy / m));
    return { pixels: readPixels(shifted, 1).pixels, note: 'drawing framed like MNIST (20×20 box, centred by mass)' };
  }
  ctx.drawImage(drawing, 0, 0, width, height);
  return { pixels: readPixels(out, channels).pixels, note: `drawing resized to ${width}×${height}` };
}
