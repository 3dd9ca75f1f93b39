/**
 * Converts the authors' ImageNet GC checkpoints (`beta_X.avg.pt`, CHECKPOINT.md) into a trustgc
 * model: every official tensor is mapped onto the preset's parameters (PyTorch NCHW/OIHW layouts
 * turned into our NHWC/HWIO ones), shapes are checked, and a mismatch fails with one message that
 * lists every missing, unexpected and mis-shaped key.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GenerativeClassifier } from '../../gc/model.js';
import { defaultConfig, isImagenetArch } from '../../gc/presets.js';
import type { ArchName } from '../../gc/presets.js';
import { IMAGENET_LAYOUTS, imagenetNodeIndices } from '../../gc/imagenet_inn.js';
import { openTorchFile, TorchTensor } from './torch_file.js';
import { InputError } from '../../util/errors.js';

export interface ImportOptions {
  arch?: ArchName;
  /** human-readable class names (default: the class indices) */
  classNames?: string[];
  /** data-set ids of the classes, e.g. WordNet ids */
  classIds?: string[];
  /** 'auto': index storage when every mixing matrix is a hard permutation (as the config says) */
  mixingStorage?: 'auto' | 'dense' | 'indices';
  onProgress?: (done: number, total: number) => void;
}

export interface ImportReport {
  format: 'zip' | 'legacy';
  /** official tensors copied into the model */
  imported: number;
  /** official tensors deliberately not imported (cached activations, counters, fixed constants) */
  skipped: number;
  mixingStorage: 'dense' | 'indices';
  classes: number;
}

/** Keys an importer may leave behind: cached activations, BN counters and fixed constants we rebuild. */
function isSkippable(key: string, dctNode: number): boolean {
  return (
    /^tmp_var_\d+$/.test(key) ||
    /\.num_batches_tracked$/.test(key) ||
    /\.w_inv$/.test(key) ||
    /\.reshape_kernels\.\d+$/.test(key) ||
    /\.haar_weights$/.test(key) ||
    key === `module_list.${dctNode}.weight` ||
    key === `module_list.${dctNode}.inv_weight`
  );
}

/** The official tensors of a checkpoint by their official names (module_list.…, mu, mu_t, mu_m). */
function officialTensors(root: unknown, source: string): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  const add = (key: string, value: unknown) => {
    if (value instanceof TorchTensor) out.set(key, value);
  };
  if (!(root instanceof Map)) throw new InputError(`${source} does not hold a dict of tensors`);
  if (root.has('inn')) {
    // the official model.save(): {inn: state_dict, mu, mu_t, mu_m, opt}
    const inn = root.get('inn');
    if (!(inn instanceof Map)) throw new InputError(`${source}: "inn" is not a state dict`);
    for (const [k, v] of inn) add(String(k), v);
    for (const k of ['mu', 'mu_t', 'mu_m']) add(k, root.get(k));
  } else if ([...root.keys()].some((k) => String(k).startsWith('model.module_list.'))) {
    // InvertibleImagenetClassifier.state_dict()
    for (const [k, v] of root) {
      const key = String(k);
      if (key.startsWith('model.')) add(key.slice('model.'.length), v);
      else add(key === 'mu_fc' ? 'mu' : key, v);
    }
  } else {
    const keys = [...root.keys()].slice(0, 8).map(String).join(', ');
    throw new InputError(`${source} is not an official ImageNet GC checkpoint: expected keys inn, mu, mu_t, mu_m (found ${keys})`);
  }
  return out;
}

/** Column of the single 1 in each row, or null when the matrix is not a hard permutation. */
export function permutationOf(w: Float32Array, c: number): Int32Array | null {
  const p = new Int32Array(c);
  const seen = new Uint8Array(c);
  for (let i = 0; i < c; i++) {
    let col = -1;
    for (let j = 0; j < c; j++) {
      const v = w[i * c + j];
      if (v === 1 && col < 0) col = j;
      else if (v !== 0) return null;
    }
    if (col < 0 || seen[col]) return null;
    seen[col] = 1;
    p[i] = col;
  }
  return p;
}

interface Mapping {
  key: string;
  /** shape the official tensor must have */
  shape: number[];
  convert(values: Float32Array): tf.Tensor;
}

/** Where a trustgc parameter lives in an official checkpoint and how its layout differs. */
function mappingFor(name: string, variable: tf.Variable): Mapping {
  const shape = variable.shape;
  if (name.startsWith('head.')) {
    const rest = name.slice('head.'.length);
    if (rest === 'mu_fc') return { key: 'mu', shape: [1, ...shape], convert: (v) => tf.tensor(v, shape) };
    return { key: rest, shape, convert: (v) => tf.tensor(v, shape) };
  }
  const key = 'module_list.' + name.slice('inn.'.length);
  if (key.endsWith('.w_perm')) {
    const c = shape[0];
    return {
      key: key.replace(/\.w_perm$/, '.w'),
      shape: [c, c, 1, 1],
      convert: (v) => {
        const p = permutationOf(v, c);
        if (!p) throw new Error(`${key.replace(/_perm$/, '')} is not a hard permutation matrix; import with mixing storage "dense"`);
        return tf.tensor(p, [c], 'int32');
      },
    };
  }
  if (key.endsWith('.w')) return { key, shape: [...shape, 1, 1], convert: (v) => tf.tensor(v, shape) };
  if (key.endsWith('.act_norm') || key.endsWith('.act_offset')) return { key, shape: [1, shape[0], 1, 1], convert: (v) => tf.tensor(v, shape) };
  if (shape.length === 4) {
    // conv weight: ours [kh, kw, in, out], PyTorch [out, in, kh, kw]
    const [kh, kw, cin, cout] = shape;
    return { key, shape: [cout, cin, kh, kw], convert: (v) => tf.transpose(tf.tensor(v, [cout, cin, kh, kw]), [2, 3, 1, 0]) };
  }
  return { key, shape, convert: (v) => tf.tensor(v, shape) };
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function listProblems(kind: string, items: string[]): string {
  const shown = items.slice(0, 12).join(', ');
  return `${items.length} ${kind}: ${shown}${items.length > 12 ? `, … (+${items.length - 12})` : ''}`;
}

export function importOfficialCheckpoint(path: string, opts: ImportOptions = {}): { model: GenerativeClassifier; report: ImportReport } {
  const arch = opts.arch ?? 'imagenet-resnet50-inn';
  if (!isImagenetArch(arch)) throw new Error(`official checkpoints hold ImageNet models; architecture ${arch} is not one`);
  const layout = IMAGENET_LAYOUTS[arch];
  const dctNode = imagenetNodeIndices(layout).dct;
  const file = openTorchFile(path);
  try {
    const tensors = officialTensors(file.root, path);
    const mu = tensors.get('mu');
    if (!mu || mu.shape.length !== 3) throw new InputError(`${path}: class means "mu" missing or not of shape [1, classes, ${layout.meanDims}]`);
    const classes = mu.shape[1];
    const classNames = opts.classNames ?? Array.from({ length: classes }, (_, i) => String(i));
    if (classNames.length !== classes) throw new InputError(`${path} has ${classes} classes, the class list has ${classNames.length}`);
    if (opts.classIds && opts.classIds.length !== classes) throw new InputError(`${path} has ${classes} classes, the class-id list has ${opts.classIds.length}`);

    let storage = opts.mixingStorage ?? 'auto';
    if (storage === 'auto') {
      const ws = [...tensors.entries()].filter(([k, t]) => /^module_list\.\d+\.w$/.test(k) && t.shape.length === 4 && t.shape[0] === t.shape[1]);
      storage = ws.length > 0 && ws.every(([, t]) => permutationOf(t.toFloat32(), t.shape[0]) !== null) ? 'indices' : 'dense';
    }
    const config = { ...defaultConfig(arch, classNames), mixingStorage: storage, ...(opts.classIds ? { classIds: opts.classIds } : {}) };
    const model = new GenerativeClassifier(config);
    try {
      const params = model.namedParams();
      const mappings = params.map((p) => ({ param: p, map: mappingFor(p.name, p.variable) }));
      const missing: string[] = [];
      const misShaped: string[] = [];
      for (const { map } of mappings) {
        const t = tensors.get(map.key);
        if (!t) missing.push(map.key);
        else if (!sameShape(t.shape, map.shape)) misShaped.push(`${map.key} [${t.shape}] (expected [${map.shape}])`);
      }
      const used = new Set(mappings.map((m) => m.map.key));
      const skipped = [...tensors.keys()].filter((k) => !used.has(k) && isSkippable(k, dctNode));
      const unexpected = [...tensors.keys()].filter((k) => !used.has(k) && !isSkippable(k, dctNode));
      if (missing.length || unexpected.length || misShaped.length) {
        const parts = [
          missing.length ? listProblems('missing', missing) : '',
          unexpected.length ? listProblems('unexpected', unexpected) : '',
          misShaped.length ? listProblems('mis-shaped', misShaped) : '',
        ].filter(Boolean);
        throw new InputError(`${path} does not match architecture ${arch}: ${parts.join('; ')}`);
      }
      mappings.forEach(({ param, map }, i) => {
        const values = (tensors.get(map.key) as TorchTensor).toFloat32();
        for (let j = 0; j < values.length; j++) {
          if (!Number.isFinite(values[j])) throw new InputError(`${path} is corrupt: ${map.key} contains NaN/Inf`);
        }
        tf.tidy(() => param.variable.assign(map.convert(values)));
        opts.onProgress?.(i + 1, mappings.length);
      });
      return { model, report: { format: file.format, imported: mappings.length, skipped: skipped.length, mixingStorage: storage, classes } };
    } catch (e) {
      model.dispose();
      throw e;
    }
  } finally {
    file.close();
  }
}
