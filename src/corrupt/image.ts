/**
 * A floating-point image for the corruption code: HWC order, values nominally in [0, 1] (the
 * reference implementation of Hendrycks & Dietterich works on x/255 in the same layout).
 */
export interface Img {
  h: number;
  w: number;
  c: number;
  data: Float32Array;
}

export function makeImg(h: number, w: number, c: number): Img {
  return { h, w, c, data: new Float32Array(h * w * c) };
}

export function fromBytes(bytes: Uint8Array, h: number, w: number, c: number): Img {
  if (bytes.length !== h * w * c) throw new Error(`image of ${bytes.length} bytes is not ${h}×${w}×${c}`);
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) data[i] = bytes[i] / 255;
  return { h, w, c, data };
}

/** Clips to [0, 1] and rounds to 8 bits (the released CIFAR-10-C / ImageNet-C files are uint8). */
export function toBytes(img: Img, out = new Uint8Array(img.data.length)): Uint8Array {
  const d = img.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i] * 255;
    out[i] = v <= 0 || Number.isNaN(v) ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

export function cloneImg(img: Img): Img {
  return { h: img.h, w: img.w, c: img.c, data: img.data.slice() };
}

export function clip01(img: Img): Img {
  const d = img.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i] < 0 ? 0 : d[i] > 1 ? 1 : d[i];
  return img;
}

/** Luma of an RGB image (ITU-R 601 weights, as OpenCV's RGB2GRAY); a grey image is returned as is. */
export function grey(img: Img): Float32Array {
  const n = img.h * img.w;
  const out = new Float32Array(n);
  if (img.c === 1) {
    out.set(img.data);
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = 0.299 * img.data[3 * i] + 0.587 * img.data[3 * i + 1] + 0.114 * img.data[3 * i + 2];
  return out;
}

/** Applies fn to every channel plane separately (plane in, plane out, both h·w). */
export function perChannel(img: Img, fn: (plane: Float32Array) => Float32Array): Img {
  const { h, w, c } = img;
  const n = h * w;
  const out = makeImg(h, w, c);
  const plane = new Float32Array(n);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < n; i++) plane[i] = img.data[i * c + ch];
    const r = fn(plane);
    for (let i = 0; i < n; i++) out.data[i * c + ch] = r[i];
  }
  return out;
}
