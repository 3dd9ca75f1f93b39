/** Reader for the IDX format of the original MNIST files (big-endian header, uint8 payload). */
import { readFileSync } from 'node:fs';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export function parseIdx(buffer: Uint8Array, source: string): IdxArray {
  if (buffer.length < 4) throw new Error(`${source}: too short to be an IDX file`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const magic = view.getUint32(0);
  const type = (magic >> 8) & 0xff;
  const rank = magic & 0xff;
  if (magic >> 16 !== 0 || type !== 0x08) {
    throw new Error(`${source}: not an unsigned-byte IDX file (magic 0x${magic.toString(16)})`);
  }
  if (buffer.length < 4 + 4 * rank) throw new Error(`${source}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * rank;
  if (buffer.length !== offset + count) {
    throw new Error(`${source}: IDX header announces ${count} values, file holds ${buffer.length - offset}`);
  }
  return { dims, data: buffer.subarray(offset) };
}

export function readIdx(path: string): IdxArray {
  let buffer: Buffer;
  try {
    buffer = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read IDX file ${path}: ${(e as Error).message}`);
  }
  return parseIdx(buffer, path);
}
