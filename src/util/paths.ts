/** Where the project finds shared data and keeps caches. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

/** Repository root: two levels above this file in src/ and in dist/src/. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(resolve(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export function sharedDataDir(): string {
  return process.env.TRUSTGC_SHARED_DATA ?? resolve(projectRoot(), '..', 'shared', 'data');
}

export function cacheDir(): string {
  return process.env.TRUSTGC_CACHE ?? resolve(projectRoot(), '.data');
}
