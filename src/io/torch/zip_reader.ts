/**
 * Random-access reader for the zip archives `torch.save` writes (PyTorch ≥ 1.6).
 *
 * Hand-written rather than fflate because official checkpoints are 0.9–2.3 GB: we read the
 * central directory and then only the members we need, straight from the file descriptor, instead
 * of holding the whole archive in memory. PyTorch stores every member uncompressed (method 0),
 * sets the data-descriptor flag (so local headers carry no sizes), pads local extra fields to
 * align data to 64 bytes, and always writes Zip64 records — all handled here (CHECKPOINT.md §3.1).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError, fsReason } from '../../util/errors.js';

export interface ZipEntry {
  name: string;
  /** offset of the local file header */
  headerOffset: number;
  size: number;
  method: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

/** Reads byte ranges of a file without loading it. */
export class RandomAccessFile {
  private readonly fd: number;
  readonly size: number;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new InputError(`cannot open checkpoint ${path}: ${fsReason(e)}`);
    }
    this.size = fstatSync(this.fd).size;
  }

  read(offset: number, length: number): Buffer {
    if (offset < 0 || offset + length > this.size) {
      throw new InputError(`${this.path} is truncated: needs bytes ${offset}–${offset + length}, file has ${this.size}`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new InputError(`${this.path}: unexpected end of file at byte ${offset + done}`);
      done += n;
    }
    return buf;
  }

  close(): void {
    closeSync(this.fd);
  }
}

const u64 = (b: Buffer, at: number) => Number(b.readBigUInt64LE(at));

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(readonly file: RandomAccessFile) {
    const fail = (why: string): never => {
      throw new InputError(`${file.path} is not a readable zip archive (${why})`);
    };
    // the end-of-central-directory record sits in the last 22 + 65535 bytes
    const tailLength = Math.min(file.size, 22 + 65535);
    const tail = file.read(file.size - tailLength, tailLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail('no end-of-central-directory record');
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    const locator = eocd - 20;
    if (locator >= 0 && tail.readUInt32LE(locator) === SIG_ZIP64_LOCATOR) {
      const rec = file.read(u64(tail, locator + 8), 56);
      if (rec.readUInt32LE(0) !== SIG_ZIP64_EOCD) fail('broken Zip64 end record');
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
    const cd = file.read(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (cd.readUInt32LE(p) !== SIG_CENTRAL) fail(`central directory entry ${i} is corrupt`);
      const method = cd.readUInt16LE(p + 10);
      let size = cd.readUInt32LE(p + 24);
      let uncompressed = cd.readUInt32LE(p + 24);
      let compressed = cd.readUInt32LE(p + 20);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let headerOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // Zip64 extra field: the 64-bit values of exactly those fields that are 0xFFFFFFFF, in order
      let e = p + 46 + nameLen;
      const end = e + extraLen;
      while (e + 4 <= end) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (uncompressed === 0xffffffff) (uncompressed = u64(cd, q)), (q += 8);
          if (compressed === 0xffffffff) (compressed = u64(cd, q)), (q += 8);
          if (headerOffset === 0xffffffff) headerOffset = u64(cd, q);
        }
        e += 4 + len;
      }
      size = uncompressed;
      if (method === 0 && compressed !== uncompressed) fail(`member ${name}: stored sizes disagree`);
      this.entries.set(name, { name, headerOffset, size, method });
      p = end + commentLen;
    }
  }

  /** Byte offset of a member's data (the local header's own extra length counts, not the central one). */
  dataOffset(entry: ZipEntry): number {
    const local = this.file.read(entry.headerOffset, 30);
    if (local.readUInt32LE(0) !== SIG_LOCAL) throw new Error(`${this.file.path}: local header of ${entry.name} is corrupt`);
    return entry.headerOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  }

  read(name: string, offset = 0, length?: number): Buffer {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`${this.file.path}: archive has no member ${name}`);
    if (entry.method !== 0) throw new Error(`${this.file.path}: member ${name} is compressed (method ${entry.method}); PyTorch writes stored members only`);
    const n = length ?? entry.size - offset;
    if (offset + n > entry.size) throw new Error(`${this.file.path}: member ${name} has ${entry.size} bytes, ${offset + n} requested`);
    return this.file.read(this.dataOffset(entry) + offset, n);
  }
}
