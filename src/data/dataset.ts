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
  /**
   * The samples are stored class by class (image folders, CIFAR-10's training split): a prefix
   * would hold only the first classes, so `firstN` takes its images round-robin over the classes.
   */
  storedByClass?: boolean;
}

export function datasetSize(ds: ImageDataset): number {
  return ds.labels.length;
}

export function sampleSize(ds: ImageDataset): number {
  return ds.height * ds.width * ds.channels;
}

/** A new data set holding the given samples (copied), in the order given. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, name = ds.name): ImageDataset {
  const n = sampleSize(ds);
  const pixels = new Uint8Array(indices.length * n);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    pixels.set(ds.pixels.subarray(j * n, (j + 1) * n), i * n);
    labels[i] = ds.labels[j];
  }
  // the new order is the caller's, so the class-by-class flag does not carry over
  return { name, classNames: ds.classNames, height: ds.height, width: ds.width, channels: ds.channels, pixels, labels };
}

/** Sample indices round-robin over the classes: image k of every class, then image k + 1, …; each class in stored order. */
export function classRoundRobinOrder(ds: ImageDataset): number[] {
  const byClass = ds.classNames.map(() => [] as number[]);
  ds.labels.forEach((y, i) => byClass[y].push(i));
  const order: number[] = [];
  for (let k = 0; order.length < ds.labels.length; k++) for (const members of byClass) if (k < members.length) order.push(members[k]);
  return order;
}

/**
 * The first `limit` images (all when undefined): a prefix in stored order, or — for a set stored
 * class by class — a prefix of the round-robin order, so that every class is represented.
 */
export function firstN(ds: ImageDataset, limit: number | undefined): ImageDataset {
  if (limit === undefined || limit >= datasetSize(ds)) return ds;
  if (ds.storedByClass) return subset(ds, classRoundRobinOrder(ds).slice(0, limit));
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
