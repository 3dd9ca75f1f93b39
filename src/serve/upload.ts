/**
 * Uploaded image bytes → model input, with every rejection an UploadError that names the problem
 * and carries the HTTP status (the server turns it into a 4xx JSON answer; nothing reaches tfjs
 * unchecked). Small models get the whole image resized to their input; ImageNet layouts get the
 * torchvision resize + centre crop of `trustgc predict`.
 */
import sharp from 'sharp';
import type { Metadata } from 'sharp';
import type { ModelConfig } from '../gc/presets.js';
import { isImagenetArch } from '../gc/presets.js';
import { cropSpec, imageCrops } from '../data/crops.js';
import type { WorkPool } from './work_pool.js';

export class UploadError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export interface UploadOptions {
  /** convert colour images to greyscale for 1-channel models (and grey to RGB for 3-channel ones) */
  convertChannels?: boolean;
  /** largest accepted width·height, checked on the header before any decoding (decompression bombs) */
  maxPixels?: number;
  /** where the decoding runs once the header passed (bounded: a full pool refuses with 503) */
  pool?: WorkPool;
}

/**
 * The largest image a model needs, in pixels: 1024 times its input (a 28×28 model takes 1 MP, a
 * 224×224 one 16 MP), at least 1 MP, at most 16 MP — well past any photo it could use, far below
 * what a decompression bomb declares.
 */
export function defaultMaxPixels(config: ModelConfig): number {
  return Math.min(2 ** 24, Math.max(2 ** 20, 1024 * config.input.height * config.input.width));
}

const FORMATS = new Set(['png', 'jpeg', 'webp', 'gif', 'tiff', 'bmp']);

/**
 * Colour channels of an image without its alpha channel. For a greyscale model, colour-typed files
 * whose pixels all have R = G = B (grey PNGs are often saved as RGB) count as 1; only then is the
 * image decoded here — for colour models the header decides, and the image is decoded once.
 */
async function colourChannels(buffer: Buffer, meta: Metadata, maxPixels: number, modelChannels: number): Promise<number> {
  const c = (meta.channels ?? 0) - (meta.hasAlpha ? 1 : 0);
  if (c !== 3 || modelChannels !== 1) return c;
  const { data, info } = await sharp(buffer, { failOn: 'truncated', limitInputPixels: maxPixels }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) return info.channels;
  for (let i = 0; i < data.length; i += 3) if (data[i] !== data[i + 1] || data[i] !== data[i + 2]) return 3;
  return 1;
}

/** [H, W, C] pixel values in [0, 1] for the model. */
export async function decodeUpload(bytes: Uint8Array, config: ModelConfig, opts: UploadOptions = {}): Promise<Float32Array> {
  if (bytes.length === 0) throw new UploadError(400, 'EMPTY_BODY', 'the upload is empty: send an image file (PNG, JPEG, WebP, GIF, TIFF or BMP)');
  const maxPixels = opts.maxPixels ?? defaultMaxPixels(config);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let meta: Metadata;
  try {
    meta = await sharp(buffer, { limitInputPixels: false }).metadata();
  } catch {
    throw new UploadError(415, 'NOT_AN_IMAGE', 'the upload is not an image in a supported format (PNG, JPEG, WebP, GIF, TIFF or BMP)');
  }
  if (!meta.format || !FORMATS.has(meta.format)) throw new UploadError(415, 'UNSUPPORTED_FORMAT', `image format "${meta.format ?? 'unknown'}" is not supported: send PNG, JPEG, WebP, GIF, TIFF or BMP`);
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w < 1 || h < 1) throw new UploadError(400, 'NO_SIZE', 'the image has no width or height');
  if (w * h > maxPixels) throw new UploadError(413, 'TOO_MANY_PIXELS', `the image is ${w}×${h} = ${w * h} pixels, more than the ${maxPixels} this server accepts (--max-pixels)`);
  const decode = () => decodePixels(buffer, meta, config, maxPixels, opts.convertChannels ?? false);
  return opts.pool ? opts.pool.run(decode) : decode();
}

/** Decoding proper, after the header checks; sharp's limitInputPixels guards it a second time. */
async function decodePixels(buffer: Buffer, meta: Metadata, config: ModelConfig, maxPixels: number, convertChannels: boolean): Promise<Float32Array> {
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  const { height, width, channels } = config.input;
  let have: number;
  try {
    have = await colourChannels(buffer, meta, maxPixels, channels);
  } catch (e) {
    throw new UploadError(400, 'CORRUPT_IMAGE', `the image cannot be decoded (truncated or corrupt ${meta.format} file): ${(e as Error).message.split('\n')[0]}`);
  }
  if (have !== channels && !convertChannels) {
    const want = channels === 1 ? '1 (greyscale)' : `${channels} (RGB)`;
    throw new UploadError(422, 'WRONG_CHANNELS', `the image has ${have} colour channel${have === 1 ? '' : 's'}, the model takes ${want}; convert it, or ask the server to (convert=true)`);
  }
  if (have !== 1 && have !== 3) throw new UploadError(422, 'WRONG_CHANNELS', `the image has ${have} colour channels; only greyscale and RGB images are accepted`);
  let raw: Uint8Array;
  try {
    if (isImagenetArch(config.arch)) {
      raw = await imageCrops(buffer, cropSpec(height, 1, channels as 1 | 3));
    } else {
      // failOn 'truncated' rejects cut-off files instead of decoding their grey remainder
      let img = sharp(buffer, { failOn: 'truncated', limitInputPixels: maxPixels }).removeAlpha();
      img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
      if (w !== width || h !== height) img = img.resize(width, height, { fit: 'fill' });
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      if (info.channels !== channels || data.length !== width * height * channels) throw new Error(`decoded ${info.width}×${info.height}×${info.channels}`);
      raw = data;
    }
  } catch (e) {
    throw new UploadError(400, 'CORRUPT_IMAGE', `the image cannot be decoded (truncated or corrupt ${meta.format} file): ${(e as Error).message.split('\n')[0]}`);
  }
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i] / 255;
  return out;
}
