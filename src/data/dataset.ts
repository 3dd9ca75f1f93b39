/**
 * In-memory image classification data: uint8 pixels in HWC order plus integer labels.
 * Small enough for the data sets this project trains on here (MNIST: 47 MB, CIFAR-10: 154 MB).
 */
export interface ImageDataset {
  name: string;
  classNames: string[];
  height: number;
  width: number;
  channels: number;
  /** N·H·W·C bytes, sample-major, HWC within a sample */
  pixels: Uint8Array;
  labels: Int32Array;
}

export function datasetSize(ds: ImageDataset): number {
  return ds.labels.length;
}

export function sampleSize(ds: ImageDataset): number {
  return ds.height * ds.width * ds.channels;
}

/** A new data set holding the given samples (copied). */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, name = ds.name): ImageDataset {
  const n = sampleSize(ds);
  const pixels = new Uint8Array(indices.length * n);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    pixels.set(ds.pixels.subarray(j * n, (j + 1) * n), i * n);
    labels[i] = ds.labels[j];
  }
  return { ...ds, name, pixels, labels };
}

export function firstN(ds: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= datasetSize(ds)) return ds;
  return subset(ds, Array.from({ length: limit }, (_, i) => i));
}

/** Checks internal consistency; throws naming the data set. */
export function validateDataset(ds: ImageDataset): void {
  const n = datasetSize(ds);
  if (ds.pixels.length !== n * sampleSize(ds)) {
    throw new Error(`data set ${ds.name}: ${ds.pixels.length} pixel bytes for ${n} images of ${ds.height}×${ds.width}×${ds.channels}`);
  }
  for (let i = 0; i < n; i++) {
    if (ds.labels[i] < 0 || ds.labels[i] >= ds.classNames.length) {
      throw new Error(`data set ${ds.name}: label ${ds.labels[i]} of image ${i} is not one of ${ds.classNames.length} classes`);
    }
  }
}
