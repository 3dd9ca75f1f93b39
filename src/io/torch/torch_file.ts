/**
 * Reads PyTorch `torch.save` files without Python: the zip format (PyTorch ≥ 1.6) and the legacy
 * pre-1.6 format (CHECKPOINT.md §3). The object tree is unpickled with `pickleparser`; tensors come
 * back as lazy `TorchTensor` views whose bytes are read from the file only when converted, so a
 * 2 GB checkpoint can be inspected and imported without loading parts nobody needs (optimizer
 * momentum, cached activations).
 */
import { BufferReader, NameRegistry, Parser } from 'pickleparser';
import { RandomAccessFile, ZipReader } from './zip_reader.js';
import { decodeHalf } from '../half_float.js';
import { InputError, fsReason } from '../../util/errors.js';

export type TorchDtype = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The `torch.XStorage` classes a pickle names as storage types. */
export class StorageType {
  constructor(readonly dtype: TorchDtype, readonly itemsize: number) {}
}

const STORAGE_TYPES: Record<string, StorageType> = {
  FloatStorage: new StorageType('float32', 4),
  DoubleStorage: new StorageType('float64', 8),
  HalfStorage: new StorageType('float16', 2),
  BFloat16Storage: new StorageType('bfloat16', 2),
  LongStorage: new StorageType('int64', 8),
  IntStorage: new StorageType('int32', 4),
  ShortStorage: new StorageType('int16', 2),
  CharStorage: new StorageType('int8', 1),
  ByteStorage: new StorageType('uint8', 1),
  BoolStorage: new StorageType('bool', 1),
};

/** A typed storage: `numel` elements starting `elementOffset` elements into a raw byte source. */
export class TorchStorage {
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
    /** reads `length` bytes starting `offset` bytes into the storage's root */
    private readonly readRoot: (offset: number, length: number) => Buffer,
    readonly elementOffset = 0,
  ) {}

  /** Bytes of elements [start, start + count). */
  bytes(start: number, count: number): Buffer {
    if (start < 0 || start + count > this.numel) {
      throw new Error(`tensor reads elements ${start}–${start + count} of storage ${this.key}, which has ${this.numel}`);
    }
    const size = this.type.itemsize;
    return this.readRoot((this.elementOffset + start) * size, count * size);
  }

  view(key: string, offset: number, numel: number): TorchStorage {
    return new TorchStorage(key, this.type, numel, this.readRoot, this.elementOffset + offset);
  }
}

/** Decodes little-endian elements of any supported dtype to numbers. */
function decode(bytes: Buffer, dtype: TorchDtype, count: number): Float64Array | Float32Array {
  // copy into a fresh, aligned buffer (pooled Buffers may start at any byte)
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  const ab = aligned.buffer;
  switch (dtype) {
    case 'float32':
      return new Float32Array(ab, 0, count);
    case 'float64':
      return new Float64Array(ab, 0, count);
    case 'float16': {
      return decodeHalf(new Uint16Array(ab, 0, count));
    }
    case 'bfloat16': {
      const src = new Uint16Array(ab, 0, count);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'int64': {
      const src = new BigInt64Array(ab, 0, count);
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'int32':
      return Float64Array.from(new Int32Array(ab, 0, count));
    case 'int16':
      return Float64Array.from(new Int16Array(ab, 0, count));
    case 'int8':
      return Float64Array.from(new Int8Array(ab, 0, count));
    case 'uint8':
    case 'bool':
      return Float64Array.from(aligned.subarray(0, count));
  }
}

/** A tensor view (`_rebuild_tensor_v2`): element i₀…iₙ is storage[offset + Σ iₖ·strideₖ]. */
export class TorchTensor {
  readonly numel: number;

  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {
    this.numel = shape.reduce((a, b) => a * b, 1);
    if (stride.length !== shape.length) throw new Error(`tensor on storage ${storage.key}: ${shape.length}-d shape with ${stride.length} strides`);
  }

  get dtype(): TorchDtype {
    return this.storage.type.dtype;
  }

  private isContiguous(): boolean {
    let expected = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.stride[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** Values in row-major order as float32 (any dtype, any strides). */
  toFloat32(): Float32Array {
    const n = this.numel;
    if (n === 0) return new Float32Array(0);
    if (this.isContiguous()) {
      const values = decode(this.storage.bytes(this.offset, n), this.dtype, n);
      return values instanceof Float32Array ? values : Float32Array.from(values);
    }
    // general strides: read the spanned range once, then gather
    let lo = this.offset;
    let hi = this.offset;
    this.shape.forEach((s, d) => (this.stride[d] >= 0 ? (hi += (s - 1) * this.stride[d]) : (lo += (s - 1) * this.stride[d])));
    const span = decode(this.storage.bytes(lo, hi - lo + 1), this.dtype, hi - lo + 1);
    const out = new Float32Array(n);
    const index = new Array(this.shape.length).fill(0);
    let pos = this.offset - lo;
    for (let i = 0; i < n; i++) {
      out[i] = span[pos];
      for (let d = this.shape.length - 1; d >= 0; d--) {
        index[d]++;
        pos += this.stride[d];
        if (index[d] < this.shape[d]) break;
        pos -= index[d] * this.stride[d];
        index[d] = 0;
      }
    }
    return out;
  }
}

export interface TorchFile {
  format: 'zip' | 'legacy';
  /** the unpickled object: dicts are Maps, tuples/lists arrays, tensors TorchTensor */
  root: unknown;
  close(): void;
}

const LEGACY_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);

function makeParser(persistentLoad: (pid: unknown[]) => TorchStorage): Parser {
  const registry = new NameRegistry()
    .register('collections', 'OrderedDict', () => new Map())
    .register('torch._utils', '_rebuild_tensor_v2', (storage: TorchStorage, offset: number, size: number[], stride: number[]) => new TorchTensor(storage, offset, size, stride))
    .register('torch._utils', '_rebuild_tensor', (storage: TorchStorage, offset: number, size: number[], stride: number[]) => new TorchTensor(storage, offset, size, stride))
    .register('torch._utils', '_rebuild_parameter', (tensor: TorchTensor) => tensor)
    .register('torch._utils', '_rebuild_parameter_with_state', (tensor: TorchTensor) => tensor);
  for (const [name, type] of Object.entries(STORAGE_TYPES)) {
    // pickle GLOBALs resolve to these markers; they only ever appear inside persistent ids
    registry.register('torch', name, type as unknown as () => StorageType);
  }
  return new Parser({
    nameResolver: registry,
    persistentResolver: { resolve: (pid: unknown) => persistentLoad(pid as unknown[]) },
    unpicklingTypeOfDictionary: 'Map',
  });
}

function storageType(marker: unknown, key: string): StorageType {
  if (marker instanceof StorageType) return marker;
  throw new Error(`storage ${key} has an unsupported element type`);
}

/**
 * persistent_load for both formats: checks the id, and builds each storage once per key (several
 * tensors may share one) with `create(key, type, pid)`.
 */
function storagesByKey(create: (key: string, type: StorageType, pid: unknown[]) => TorchStorage): { load: (pid: unknown[]) => TorchStorage; get: (key: string) => TorchStorage | undefined } {
  const storages = new Map<string, TorchStorage>();
  return {
    load: (pid) => {
      if (pid[0] !== 'storage') throw new Error(`unknown persistent id kind "${String(pid[0])}"`);
      const key = String(pid[2]);
      let s = storages.get(key);
      if (!s) {
        s = create(key, storageType(pid[1], key), pid);
        storages.set(key, s);
      }
      return s;
    },
    get: (key) => storages.get(key),
  };
}

function openZip(file: RandomAccessFile): TorchFile {
  const zip = new ZipReader(file);
  const pkl = [...zip.entries.keys()].filter((n) => n.endsWith('/data.pkl') || n === 'data.pkl').sort((a, b) => a.length - b.length)[0];
  if (!pkl) throw new InputError(`${file.path} is a zip archive but not a PyTorch checkpoint (no data.pkl member)`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const storages = storagesByKey((key, type) => {
    const member = `${prefix}data/${key}`;
    const entry = zip.entries.get(member);
    if (!entry) throw new InputError(`${file.path} is corrupt: storage member ${member} is missing`);
    return new TorchStorage(key, type, entry.size / type.itemsize, (offset, length) => zip.read(member, offset, length));
  });
  const parser = makeParser(storages.load);
  const root = parser.parse(zip.read(pkl));
  return { format: 'zip', root, close: () => file.close() };
}

function openLegacy(file: RandomAccessFile): TorchFile {
  // The pickles come first; we do not know their length, so read a prefix and grow it if needed.
  for (let chunk = Math.min(file.size, 8 << 20); ; chunk = Math.min(file.size, chunk * 4)) {
    const head = file.read(0, chunk);
    try {
      return parseLegacy(file, head);
    } catch (e) {
      // the unpickler ran past the prefix: read more; any other error is final
      const truncated = e instanceof RangeError || /Unexpected end of file|end of line/.test((e as Error).message);
      if (!truncated || chunk === file.size) throw e;
    }
  }
}

function parseLegacy(file: RandomAccessFile, head: Buffer): TorchFile {
  // pickle 1 is the magic number, a 10-byte LONG1 (too wide for the unpickler): checked bytewise
  const reader = new BufferReader(head.subarray(LEGACY_MAGIC.length));
  const views = new Map<string, TorchStorage>();
  const dataOffsets = new Map<string, number>();
  const roots = storagesByKey(
    (key, type, pid) =>
      new TorchStorage(key, type, Number(pid[4]), (offset, length) => {
        const at = dataOffsets.get(key);
        if (at === undefined) throw new InputError(`${file.path} is corrupt: no data for storage ${key}`);
        return file.read(at + offset, length);
      }),
  );
  const parser = makeParser((pid) => {
    const root = roots.load(pid);
    const view = pid[5] as unknown[] | null | undefined;
    if (!view) return root;
    const [viewKey, offset, size] = [String(view[0]), Number(view[1]), Number(view[2])];
    if (!views.has(viewKey)) views.set(viewKey, root.view(viewKey, offset, size));
    return views.get(viewKey) as TorchStorage;
  });
  const protocol = parser.read<number>(reader);
  if (protocol !== 1001) throw new Error(`${file.path}: unsupported legacy PyTorch protocol ${protocol}`);
  const sysInfo = parser.read<Map<string, unknown>>(reader);
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) throw new Error(`${file.path} was written on a big-endian machine (not supported)`);
  const root = parser.read(reader);
  const keys = parser.read<string[]>(reader);
  // data section: for each storage in `keys` order an int64 element count, then the raw elements
  let offset = LEGACY_MAGIC.length + reader.position;
  for (const key of keys) {
    const storage = roots.get(key);
    const numel = Number(file.read(offset, 8).readBigInt64LE(0));
    if (!storage) throw new InputError(`${file.path} is corrupt: data for unknown storage ${key}`);
    if (numel !== storage.numel) throw new InputError(`${file.path} is corrupt: storage ${key} has ${numel} elements, the pickle says ${storage.numel}`);
    dataOffsets.set(key, offset + 8);
    offset += 8 + numel * storage.type.itemsize;
  }
  if (offset > file.size) throw new InputError(`${file.path} is truncated: data ends at byte ${offset}, file has ${file.size}`);
  return { format: 'legacy', root, close: () => file.close() };
}

/** Opens a `torch.save` file (zip or legacy); close it when done reading tensors. */
export function openTorchFile(path: string): TorchFile {
  const file = new RandomAccessFile(path);
  try {
    const magic = file.read(0, Math.min(file.size, LEGACY_MAGIC.length));
    if (magic.length >= 4 && magic.readUInt32LE(0) === 0x04034b50) return openZip(file);
    if (magic.equals(LEGACY_MAGIC)) return openLegacy(file);
    throw new InputError(`${path} is not a PyTorch checkpoint (neither the zip nor the legacy format)`);
  } catch (e) {
    file.close();
    if ((e as NodeJS.ErrnoException).code) throw new InputError(`cannot read PyTorch checkpoint ${path}: ${fsReason(e)}`);
    const msg = (e as Error).message;
    throw new InputError(msg.includes(path) ? msg : `cannot read PyTorch checkpoint ${path}: ${msg}`);
  }
}
