/**
 * Any image folder laid out as root/<class>/<image>.(png|jpg|jpeg|webp), decoded with sharp.
 * Classes are the sub-folder names in sorted order. Every image must have the size of the first
 * one (or is resized to `size` when given); an unreadable file fails with its path.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { ImageDataset } from './dataset.js';
import { InputError, unreadableFolder, unreadableImage } from '../util/errors.js';

/** File names sharp decodes that image folders may hold. */
export const IMAGE_EXT = /\.(png|jpe?g|webp|bmp|gif|tiff?)$/i;

export interface ImageFolderOptions {
  channels?: 1 | 3;
  /** resize every image to size×size */
  size?: number;
  name?: string;
  /** stop after this many images per class */
  limitPerClass?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function decodeImage(file: string, channels: 1 | 3, size?: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  try {
    let img = sharp(file).removeAlpha();
    img = channels === 1 ? img.greyscale() : img.toColourspace('srgb');
    if (size) img = img.resize(size, size, { fit: 'fill' });
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new Error(`decoded ${info.channels} channels`);
    return { data: new Uint8Array(data), width: info.width, height: info.height };
  } catch (e) {
    throw unreadableImage(file, e);
  }
}

export async function loadImageFolder(root: string, opts: ImageFolderOptions = {}): Promise<ImageDataset> {
  const channels = opts.channels ?? 3;
  let classNames: string[];
  try {
    classNames = readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory()).sort();
  } catch (e) {
    throw unreadableFolder('image folder', root, e);
  }
  if (classNames.length === 0) throw new InputError(`image folder ${root} has no class sub-folders (expected root/<class>/<image>)`);
  const files: Array<[string, number]> = [];
  classNames.forEach((c, label) => {
    const names = readdirSync(join(root, c)).filter((f) => IMAGE_EXT.test(f)).sort();
    for (const f of names.slice(0, opts.limitPerClass ?? names.length)) files.push([join(root, c, f), label]);
  });
  if (files.length === 0) throw new Error(`image folder ${root} contains no images`);
  const first = await decodeImage(files[0][0], channels, opts.size);
  const { width, height } = first;
  const n = width * height * channels;
  const pixels = new Uint8Array(files.length * n);
  const labels = new Int32Array(files.length);
  const batch = 64; // decode concurrently, bounded
  for (let start = 0; start < files.length; start += batch) {
    const chunk = files.slice(start, start + batch);
    const decoded = await Promise.all(chunk.map(([f]) => decodeImage(f, channels, opts.size)));
    decoded.forEach((img, k) => {
      const [file, label] = chunk[k];
      if (img.width !== width || img.height !== height) {
        throw new Error(`image ${file} is ${img.width}×${img.height}, expected ${width}×${height} like the first image (use a fixed size to resize)`);
      }
      pixels.set(img.data, (start + k) * n);
      labels[start + k] = label;
    });
    opts.onProgress?.(Math.min(start + batch, files.length), files.length);
  }
  // files are read class by class: firstN must not take a prefix (it would miss classes)
  return { name: opts.name ?? root, classNames, height, width, channels, pixels, labels, storedByClass: true };
}
