/**
 * Turning image files into model inputs: ImageNet-layout models get torchvision-style resize and
 * crops (crops.ts); the small models get the whole image resized to their input size.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../gc/presets.js';
import { isImagenetArch } from '../gc/presets.js';
import { cropSpec, imageCrops } from './crops.js';
import type { CropCount } from './crops.js';
import { IMAGE_EXT, decodeImage } from './image_folder.js';
import { unreadableFolder } from '../util/errors.js';


/** [crops, H, W, C] pixel values in [0, 1]. */
export async function imageForModel(file: string, config: ModelConfig, crops: CropCount = 1): Promise<Float32Array> {
  const { height, width, channels } = config.input;
  let bytes: Uint8Array;
  if (isImagenetArch(config.arch)) {
    bytes = await imageCrops(file, cropSpec(height, crops, channels as 1 | 3));
  } else {
    if (crops !== 1) throw new Error(`${config.arch} models take whole images: use 1 crop`);
    const img = await decodeImage(file, channels as 1 | 3, height === width ? height : undefined);
    if (img.width !== width || img.height !== height) throw new Error(`image ${file} is ${img.width}×${img.height}, the model takes ${width}×${height}`);
    bytes = img.data;
  }
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/** Every image file below a folder (sorted, recursive). */
export function listImages(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (e) {
      throw unreadableFolder('folder', dir, e);
    }
    for (const n of names) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (IMAGE_EXT.test(n)) out.push(p);
    }
  };
  walk(root);
  if (out.length === 0) throw new Error(`no images found in ${root}`);
  return out;
}
