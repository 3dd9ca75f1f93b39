#!/usr/bin/env node
// Runs the vitest suite and closes with the line CI reads: "N passed, N failed[, N skipped]".
// The counts come from vitest's JSON reporter, not from its console summary.
//
// Before the suite it finds a Chromium for the explorer's end-to-end tests (scripts/find-chromium.mjs:
// the browser that `npm ci` installs with @sparticuz/chromium, else Debian's, else apt-get as root);
// without one it stops with one line saying what to install. After it, every skipped test is
// accounted for: how many, why, and the command that enables them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { findChromium } from './find-chromium.mjs';

const selected = process.argv.slice(2);
const runsAll = selected.length === 0;

const chromium = await findChromium({ install: true });
if (chromium.error !== undefined) {
  if (runsAll || selected.some((f) => f.includes('e2e'))) {
    console.error(`npm test: ${chromium.error}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
} else {
  process.env.TRUSTGC_CHROMIUM = chromium.path;
  console.log(`explorer tests: Chromium from ${chromium.source} (${chromium.path})`);
}

// A full run first typechecks everything the suite exercises (vitest strips types without checking
// them): library, benchmarks and tests (tsconfig.test.json) and the browser page (web/tsconfig.json).
// Each project that does not typecheck counts as one failure. Runs of chosen files skip this.
let typeFailures = 0;
if (runsAll) {
  for (const project of ['tsconfig.test.json', 'web/tsconfig.json']) {
    const check = spawnSync('npx', ['tsc', '-p', project, '--noEmit'], { stdio: 'inherit' });
    if (check.status !== 0) typeFailures += 1;
    console.log(`typecheck ${project}: ${check.status === 0 ? 'ok' : 'FAILED'}`);
  }
}

const out = join(mkdtempSync(join(tmpdir(), 'trustgc-tests-')), 'results.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...selected];
const run = spawnSync('npx', args, { stdio: 'inherit' });

// Why a test file may skip tests, and how to run them. A skip in a file not listed here is a defect
// of the suite and is printed as such.
// (the native suites run whenever the addon file exists and TRUSTGC_NATIVE is not 0)
const nativeWhy = process.env.TRUSTGC_NATIVE === '0'
  ? { why: 'the optional native oneDNN kernels are disabled by TRUSTGC_NATIVE=0', enable: 'run without TRUSTGC_NATIVE=0' }
  : { why: 'the optional native oneDNN kernels are not built (oneDNN\'s headers were missing at install)', enable: 'apt-get install -y libdnnl-dev && npm run build:native' };
const SKIP_REASONS = {
  'native_kernels.test.ts': nativeWhy,
  'native_threads.test.ts': nativeWhy,
  'fused_ops.test.ts': nativeWhy,
  'data_parallel.test.ts': { why: 'the compiled worker (dist/) is missing', enable: 'npm run build' },
  'trainer.test.ts': { why: 'the compiled data-parallel worker (dist/) is missing', enable: 'npm run build' },
  'onnx.test.ts': { why: 'onnxruntime-node does not load on this machine', enable: 'npm ci (onnxruntime-node ships its binary for linux-x64, darwin and win32)' },
  'data.test.ts': { why: 'the shared data (../shared/data, ../shared/reference) is not beside the checkout', enable: 'set TRUSTGC_SHARED_DATA to the folder holding cifar10-jpeg.tar.gz' },
};

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(out)) {
  const report = JSON.parse(readFileSync(out, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // group the skipped tests by reason and say each reason once
  const byReason = new Map();
  for (const file of report.testResults ?? []) {
    const n = (file.assertionResults ?? []).filter((t) => t.status === 'pending' || t.status === 'skipped' || t.status === 'todo').length;
    if (n === 0) continue;
    const name = basename(file.name);
    const reason = SKIP_REASONS[name] ?? { why: `no reason is recorded for skips in ${name} (a defect of the suite)`, enable: 'fix the test' };
    const key = `${reason.why}\u0000${reason.enable}`;
    const entry = byReason.get(key) ?? { ...reason, count: 0, files: [] };
    entry.count += n;
    entry.files.push(name);
    byReason.set(key, entry);
  }
  for (const r of byReason.values()) {
    console.log(`skipped ${r.count} test${r.count === 1 ? '' : 's'} (${r.files.join(', ')}): ${r.why}; to run them: ${r.enable}`);
  }
} else {
  failed = 1; // vitest did not get as far as reporting
}
failed += typeFailures;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
