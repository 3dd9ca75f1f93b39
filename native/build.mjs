#!/usr/bin/env node
// Builds the optional oneDNN kernel addon (native/build/Release/trustgc_dnnl.node). Runs as the
// package's install script: when oneDNN's headers are missing or the build fails it says so and
// exits 0, and trustgc runs on its pure wasm kernels. `npm run build:native` reruns it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const say = (msg) => console.log(`trustgc native kernels: ${msg}`);

if (process.env.TRUSTGC_NATIVE === '0' || process.env.TRUSTGC_NATIVE === 'false') {
  say('skipped (TRUSTGC_NATIVE=0)');
  process.exit(0);
}
const includeDirs = [process.env.DNNL_ROOT && join(process.env.DNNL_ROOT, 'include'), '/usr/include', '/usr/local/include'].filter(Boolean);
if (!includeDirs.some((d) => existsSync(join(d, 'dnnl.hpp')))) {
  say('skipped: oneDNN headers not found (Debian/Ubuntu: apt-get install libdnnl-dev, then npm run build:native)');
  process.exit(0);
}

// npm ships node-gyp; inside npm scripts npm_config_node_gyp points at it.
const npmDir = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
const nodeGyp = [process.env.npm_config_node_gyp, join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')]
  .find((p) => p && existsSync(p));
if (!nodeGyp) {
  say('skipped: node-gyp not found (it comes with npm)');
  process.exit(0);
}
const args = [nodeGyp, 'rebuild', `--directory=${here}`];
// Use the headers of the running Node when they are installed (no download needed).
const prefix = join(dirname(process.execPath), '..');
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const run = spawnSync(process.execPath, args, { encoding: 'utf8' });
if (run.status !== 0) {
  say('build failed; continuing with the wasm kernels. Last lines of the build log:');
  console.log(`${run.stdout ?? ''}${run.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n'));
  process.exit(0);
}
say(`built ${join(here, 'build', 'Release', 'trustgc_dnnl.node')}`);
