/**
 * safetensors reader/writer (the format: 8-byte little-endian header length, a JSON header mapping
 * names to {dtype, shape, data_offsets}, then the raw little-endian data).
 * Hand-written because no maintained npm package for it exists in the registry this project can
 * use; the format is small and fully specified. F32, F16 and I32 are supported.
 * No Node imports: the browser explorer decodes models with it too.
 */
import { decodeHalf, encodeHalf, halfOverflow } from './half_float.js';
import { InputError } from '../util/errors.js';

export interface NamedArray {
  name: string;
  /** how the tensor is stored; F16 tensors hold their values as float32 in memory */
  dtype: 'F32' | 'F16' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

const BYTES_PER_ELEMENT: Record<NamedArray['dtype'], number> = { F32: 4, F16: 2, I32: 4 };

/** The stored bytes of one tensor (F16: rounded to nearest half; a value past ±65 504 is an error). */
function storedBytes(t: NamedArray): Uint8Array {
  if (t.dtype !== 'F16') return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!(t.data instanceof Float32Array)) throw new Error(`tensor ${t.name}: F16 storage needs float values`);
  const half = encodeHalf(t.data);
  const bad = halfOverflow(t.data, half);
  if (bad >= 0) throw new Error(`tensor ${t.name} cannot be stored as F16: value ${t.data[bad]} at index ${bad} exceeds ±65504`);
  return new Uint8Array(half.buffer);
}

export interface SafetensorsFile {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

export function encodeSafetensors(tensors: NamedArray[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const blocks: Uint8Array[] = [];
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] does not match ${t.data.length} values`);
    const bytes = storedBytes(t);
    blocks.push(bytes);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data block to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const bytes of blocks) {
    out.set(bytes, pos);
    pos += bytes.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new InputError(`${source}: not a valid safetensors file (${why}): the file is damaged or of another kind; write it again (train, zoo convert, import) or restore it`);
  };
  if (bytes.length < 8) fail('file too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8 || headerLen > 100_000_000) fail(`header length ${headerLen} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    return fail('header is not JSON');
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(e.dtype in BYTES_PER_ELEMENT)) fail(`tensor ${name} has unsupported dtype ${e.dtype}`);
    const dtype = e.dtype as NamedArray['dtype'];
    const [begin, end] = e.data_offsets ?? [];
    const count = (e.shape ?? []).reduce((a: number, b: number) => a * b, 1);
    if (!(begin >= 0 && end >= begin && dataStart + end <= bytes.length)) fail(`tensor ${name} lies outside the file (truncated?)`);
    if (end - begin !== count * BYTES_PER_ELEMENT[dtype]) fail(`tensor ${name}: ${end - begin} bytes for shape [${e.shape}] of ${dtype}`);
    // copy (Uint8Array.prototype.slice: Node's Buffer#slice would return a view of a shared pool);
    // the copy is also 4-byte aligned, which typed views need
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end);
    const data = dtype === 'F32' ? new Float32Array(raw.buffer) : dtype === 'I32' ? new Int32Array(raw.buffer) : decodeHalf(new Uint16Array(raw.buffer));
    tensors.set(name, { name, dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}
