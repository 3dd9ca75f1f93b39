// Finds a Chromium for the explorer's end-to-end tests, the same way on every machine:
//   1. TRUSTGC_CHROMIUM, when set (it must exist);
//   2. the headless Chromium that the devDependency @sparticuz/chromium ships inside its npm package
//      (unpacked once to the temp folder; nothing is downloaded), so `npm ci` alone brings a browser;
//   3. Debian's chromium, if installed;
//   4. with `install`, as root with apt: `apt-get install chromium`.
// Returns { path, source } or { error } — one line saying what to install.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const SYSTEM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

async function fromNpmPackage() {
  try {
    const { default: packaged } = await import('@sparticuz/chromium');
    const path = await packaged.executablePath();
    return path && existsSync(path) ? path : null;
  } catch {
    return null; // not installed (e.g. `npm ci --omit=dev`) or not this platform (the binary is linux-x64 only)
  }
}

function aptInstall() {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) return false;
  console.error('no Chromium found: installing Debian\'s chromium with apt-get (as root) …');
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
  if (spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], quiet).status === 0) return true;
  spawnSync('apt-get', ['update', '-q'], quiet);
  return spawnSync('apt-get', ['install', '-y', '-q', 'chromium'], quiet).status === 0;
}

/** @param {{ install?: boolean }} [options] */
export async function findChromium(options = {}) {
  const fromEnv = process.env.TRUSTGC_CHROMIUM;
  if (fromEnv) {
    return existsSync(fromEnv) ? { path: fromEnv, source: 'TRUSTGC_CHROMIUM' } : { error: `TRUSTGC_CHROMIUM=${fromEnv} does not exist: point it at a Chromium binary, or unset it` };
  }
  const packaged = await fromNpmPackage();
  if (packaged) return { path: packaged, source: '@sparticuz/chromium (npm package)' };
  const system = () => SYSTEM.find((p) => existsSync(p));
  if (system()) return { path: system(), source: 'system chromium' };
  if (options.install && aptInstall() && system()) return { path: system(), source: 'system chromium (installed with apt-get)' };
  return {
    error: 'no Chromium for the explorer tests: run `npm ci` (it installs @sparticuz/chromium, linux-x64), or `apt-get install -y chromium`, or set TRUSTGC_CHROMIUM=/path/to/chromium',
  };
}
