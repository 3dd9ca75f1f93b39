/**
 * ImageNet-style evaluation of a folder `root/<class id>/<image>` (e.g. `val/n01440764/*.JPEG`):
 * images are streamed (never all in memory), resized and cropped as torchvision does
 * (data/crops.ts), and with 10 crops the class posteriors are averaged over the crops, as the
 * official evaluation does (HEAD_AND_LOSS.md §5). Reports top-1/top-5 accuracy, L_X, bits/dim.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { InferenceModel } from '../gc/model.js';
import { cropSpec, imageCrops } from '../data/crops.js';
import type { CropCount } from '../data/crops.js';
import { IMAGE_EXT } from '../data/image_folder.js';
import { InputError, unreadableFolder } from '../util/errors.js';


export interface LabelledFile {
  file: string;
  label: number;
}

/**
 * Lists root/<class id>/<image> with labels from `classIds` (class i has id classIds[i]). A folder
 * whose name is not a known class fails, naming it.
 */
export function listClassFolder(root: string, classIds: string[], limit?: number): LabelledFile[] {
  let dirs: string[];
  try {
    dirs = readdirSync(root).filter((d) => statSync(join(root, d)).isDirectory()).sort();
  } catch (e) {
    throw unreadableFolder('image folder', root, e);
  }
  if (dirs.length === 0) throw new InputError(`image folder ${root} has no class sub-folders (expected ${root}/<class id>/<image>)`);
  const index = new Map(classIds.map((id, i) => [id, i]));
  const files: LabelledFile[] = [];
  for (const d of dirs) {
    const label = index.get(d);
    if (label === undefined) throw new Error(`class folder "${d}" in ${root} is not one of the model's ${classIds.length} classes (give a class index with --class-index)`);
    for (const f of readdirSync(join(root, d)).filter((n) => IMAGE_EXT.test(n)).sort()) files.push({ file: join(root, d, f), label });
  }
  if (files.length === 0) throw new Error(`image folder ${root} contains no images`);
  // a limit takes an even spread over classes rather than the first classes only
  if (limit !== undefined && limit < files.length) {
    const step = files.length / limit;
    return Array.from({ length: limit }, (_, i) => files[Math.floor(i * step)]);
  }
  return files;
}

export interface FolderEvalResult {
  dataset: string;
  images: number;
  crops: CropCount;
  top1: number;
  top5: number;
  /** mean L_X over all crops, nats per dimension */
  lx: number;
  /** mean bits/dim over all crops */
  bitsPerDim: number;
  seconds: number;
  secondsPerImage: number;
}

export async function evaluateClassFolder(
  model: InferenceModel,
  files: LabelledFile[],
  opts: { crops?: CropCount; imagesPerBatch?: number; name?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<FolderEvalResult> {
  const crops = opts.crops ?? 1;
  const { height, width, channels } = model.config.input;
  if (height !== width) throw new Error(`crop evaluation needs a square model input, ${model.config.arch} takes ${height}×${width}`);
  const spec = cropSpec(height, crops, channels as 1 | 3);
  const perBatch = opts.imagesPerBatch ?? Math.max(1, Math.floor(20 / crops));
  const start = Date.now();
  let top1 = 0;
  let top5 = 0;
  let lx = 0;
  let bpd = 0;
  const k = Math.min(5, model.classes);
  const cropValues = height * width * channels;
  // decode the next batch while the model works on the current one
  const decode = (from: number) => Promise.all(files.slice(from, from + perBatch).map((f) => imageCrops(f.file, spec)));
  let pending = decode(0);
  for (let from = 0; from < files.length; from += perBatch) {
    const decoded = await pending;
    if (from + perBatch < files.length) pending = decode(from + perBatch);
    const n = decoded.length;
    const pixels = new Float32Array(n * crops * cropValues);
    decoded.forEach((bytes, i) => {
      for (let j = 0; j < bytes.length; j++) pixels[i * bytes.length + j] = bytes[j] / 255;
    });
    const x = tf.tensor4d(pixels, [n * crops, height, width, channels]);
    const r = await model.infer(x);
    const [probs, lxSum, bpdSum] = tf.tidy(() => [
      // average the class posteriors over each image's crops
      tf.mean(tf.reshape(r.posterior, [n, crops, model.classes]), 1).arraySync() as number[][],
      tf.sum(r.lx).dataSync()[0],
      tf.sum(r.bitsPerDim).dataSync()[0],
    ]) as [number[][], number, number];
    tf.dispose([x, ...Object.values(r)]);
    probs.forEach((p, i) => {
      const label = files[from + i].label;
      const truth = p[label];
      const higher = p.filter((v) => v > truth).length; // rank of the true class
      if (higher === 0) top1++;
      if (higher < k) top5++;
    });
    lx += lxSum;
    bpd += bpdSum;
    opts.onProgress?.(from + n, files.length);
  }
  const seconds = (Date.now() - start) / 1000;
  const images = files.length;
  return {
    dataset: opts.name ?? 'image folder',
    images,
    crops,
    top1: top1 / images,
    top5: top5 / images,
    lx: lx / (images * crops),
    bitsPerDim: bpd / (images * crops),
    seconds,
    secondsPerImage: seconds / images,
  };
}

export function formatFolderEval(r: FolderEvalResult): string {
  const rows: Array<[string, string]> = [
    ['data set', `${r.dataset} (${r.images} images, ${r.crops} crop${r.crops > 1 ? 's' : ''} each)`],
    ['top-1 accuracy', `${(100 * r.top1).toFixed(2)} %`],
    ['top-5 accuracy', `${(100 * r.top5).toFixed(2)} %`],
    ['L_X (nats/dim)', r.lx.toFixed(4)],
    ['bits/dim', r.bitsPerDim.toFixed(4)],
    ['time', `${r.seconds.toFixed(1)} s (${r.secondsPerImage.toFixed(2)} s/image)`],
  ];
  const w = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, v]) => `${key.padEnd(w)}  ${v}`).join('\n');
}
