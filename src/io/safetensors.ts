/**
 * safetensors files on disk (the codec itself is in safetensors_format.ts, shared with the browser)
 * and atomic file writes.
 */
import { readFileSync, renameSync, openSync, fsyncSync, closeSync, writeSync } from 'node:fs';
import { decodeSafetensors, encodeSafetensors } from './safetensors_format.js';
import { describeFsError } from '../util/errors.js';
import type { NamedArray, SafetensorsFile } from './safetensors_format.js';

export { decodeSafetensors, encodeSafetensors };
export type { NamedArray, SafetensorsFile };

/** Writes a file atomically: temp file, fsync, rename (a crash leaves the old file intact). */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function saveSafetensors(path: string, tensors: NamedArray[], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** A checkpoint file's bytes, or an error naming the file. */
export function readFileBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw describeFsError(e, 'weights file');
  }
}

export function loadSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileBytes(path), path);
}

