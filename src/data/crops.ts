/**
 * ImageNet-style test-time preprocessing, as torchvision does it in the official evaluation
 * (HEAD_AND_LOSS.md §5): resize so the shorter side is 256 (for 224 crops; in general
 * round(size·256/224)), then take the centre crop, or TenCrop: the four corners and the centre of
 * the whole (non-square) resized image plus the same five crops of its mirror image.
 */
import sharp from 'sharp';
import { InputError, unreadableImage } from '../util/errors.js';

export type CropCount = 1 | 10;

export interface CropSpec {
  /** crop side = the model's input size */
  size: number;
  /** shorter side after resizing */
  resize: number;
  crops: CropCount;
  channels: 1 | 3;
}

export function cropSpec(size: number, crops: CropCount, channels: 1 | 3 = 3): CropSpec {
  if (crops !== 1 && crops !== 10) throw new Error(`crops must be 1 or 10, got ${crops}`);
  return { size, resize: Math.round((size * 256) / 224), crops, channels };
}

/** Python's round(): halves go to the even neighbour (torchvision's centre-crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision Resize(int): the shorter side becomes `target`, the longer is scaled and truncated. */
export function resizedSize(width: number, height: number, target: number): [number, number] {
  return width <= height ? [target, Math.floor((target * height) / width)] : [Math.floor((target * width) / height), target];
}

function crop(src: Uint8Array, w: number, c: number, top: number, left: number, size: number, mirror: boolean, out: Uint8Array, at: number): void {
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // in the mirrored image, column x of the crop is column (w − 1 − (left + x)) of the source
      const sx = mirror ? w - 1 - (left + x) : left + x;
      const s = ((top + y) * w + sx) * c;
      const d = at + (y * size + x) * c;
      for (let k = 0; k < c; k++) out[d + k] = src[s + k];
    }
  }
}

/** Decodes an image (a file, or its bytes) into `spec.crops` crops, [crops, size, size, channels] bytes. */
export async function imageCrops(source: string | Buffer, spec: CropSpec, file = typeof source === 'string' ? source : 'upload'): Promise<Uint8Array> {
  const { size, resize, crops, channels } = spec;
  let raw: Buffer;
  let w: number;
  let h: number;
  try {
    const meta = await sharp(source).metadata();
    if (!meta.width || !meta.height) throw new Error('no image size');
    [w, h] = resizedSize(meta.width, meta.height, resize);
    let img = sharp(source).removeAlpha();
    img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
    raw = await img.resize(w, h, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  } catch (e) {
    throw unreadableImage(file, e);
  }
  if (raw.length !== w * h * channels) throw new Error(`cannot read image ${file}: decoded ${raw.length} bytes for ${w}×${h}×${channels}`);
  if (w < size || h < size) throw new InputError(`image ${file} is smaller than a ${size}×${size} crop after resizing`);
  const out = new Uint8Array(crops * size * size * channels);
  const crop1 = size * size * channels;
  const centre: [number, number] = [roundHalfEven((h - size) / 2), roundHalfEven((w - size) / 2)];
  if (crops === 1) {
    crop(raw, w, channels, centre[0], centre[1], size, false, out, 0);
    return out;
  }
  // torchvision FiveCrop order: top-left, top-right, bottom-left, bottom-right, centre
  const five: Array<[number, number]> = [[0, 0], [0, w - size], [h - size, 0], [h - size, w - size], centre];
  five.forEach(([top, left], i) => crop(raw, w, channels, top, left, size, false, out, i * crop1));
  // the same five positions in the mirrored image
  five.forEach(([top, left], i) => crop(raw, w, channels, top, left, size, true, out, (5 + i) * crop1));
  return out;
}
