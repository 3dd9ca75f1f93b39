#!/usr/bin/env node
// Runs the whole test suite (`npm test`) N times on each engine path — with the native oneDNN kernels
// and with them disabled (TRUSTGC_NATIVE=0) — and records every run's closing line, the failed tests
// by name, and its wall time. A test that fails once in ten runs shows up here, not in CI by chance.
// Writes bench/results/test-stability.{json,md}.
//
//   node scripts/test-stability.mjs [--runs 5] [--paths native,wasm]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const runs = Number(arg('runs', '5'));
const paths = arg('paths', 'native,wasm').split(',');
const nativeBuilt = existsSync(join('native', 'build', 'Release', 'trustgc_dnnl.node'));
if (paths.includes('native') && !nativeBuilt) {
  console.error('the native addon is not built (apt-get install -y libdnnl-dev && npm run build:native): the native path cannot be tested');
  process.exit(2);
}

const results = [];
for (const path of paths) {
  for (let k = 1; k <= runs; k++) {
    const env = { ...process.env, ...(path === 'wasm' ? { TRUSTGC_NATIVE: '0' } : {}) };
    const t0 = Date.now();
    const run = spawnSync('npm', ['test'], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
    const out = `${run.stdout}${run.stderr}`;
    const closing = out.split('\n').filter((l) => /^\d+ passed, \d+ failed/.test(l)).at(-1) ?? 'no closing line';
    const failedTests = [...out.matchAll(/^ FAIL {2}(.+)$/gm)].map((m) => m[1].trim());
    const r = { path, run: k, exitCode: run.status, closing, failedTests: [...new Set(failedTests)], seconds: Math.round((Date.now() - t0) / 1000) };
    results.push(r);
    console.log(`${path} run ${k}/${runs}: ${closing} (${r.seconds} s)${r.failedTests.length ? ` — ${r.failedTests.join('; ')}` : ''}`);
  }
}

const failures = results.filter((r) => r.exitCode !== 0).length;
const md = [
  '# Test-suite stability',
  '',
  `\`node scripts/test-stability.mjs --runs ${runs}\` (${new Date().toISOString().slice(0, 10)}): the whole suite, ${runs} times on each engine path, on this 2-core machine.`,
  '',
  '| path | run | closing line | failed tests | wall time |',
  '|---|---|---|---|---|',
  ...results.map((r) => `| ${r.path === 'wasm' ? 'wasm (TRUSTGC_NATIVE=0)' : 'wasm + native oneDNN'} | ${r.run} | ${r.closing} | ${r.failedTests.join('; ') || '–'} | ${r.seconds} s |`),
  '',
  `${results.length} runs, ${failures} with a failure.`,
  '',
].join('\n');
mkdirSync(join('bench', 'results'), { recursive: true });
writeFileSync(join('bench', 'results', 'test-stability.json'), JSON.stringify({ runs, paths, results }, null, 2) + '\n');
writeFileSync(join('bench', 'results', 'test-stability.md'), md);
console.log(md);
process.exit(failures === 0 ? 0 : 1);
