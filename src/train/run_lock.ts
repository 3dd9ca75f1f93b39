/**
 * One training process per run folder. Two writers — say a `--resume` started while the first
 * run is still training — would interleave checkpoints and metrics and leave a run that neither
 * of them trained. The lock file holds the owner's process id; a lock whose process is gone
 * (killed, crashed) is stale and is taken over.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = 'train.lock';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only checks that the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/** Takes the run folder's lock (the folder must exist); returns the function that releases it. */
export function acquireRunLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' }); // fails if the file exists: atomic test-and-set
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
        throw new Error(`${dir} is being trained by process ${owner}: wait for it to finish or stop it (Ctrl-C writes a checkpoint) before training or resuming there (lock: ${path})`);
      }
      unlinkSync(path); // stale: its process is gone
    }
  }
  throw new Error(`could not lock ${dir} (${path} keeps reappearing)`);
}
