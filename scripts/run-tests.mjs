#!/usr/bin/env node
// Runs the vitest suite and closes with the line CI reads: "N passed, N failed[, N skipped]".
// The counts come from vitest's JSON reporter, not from its console summary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A full run first typechecks everything the suite exercises (vitest strips types without checking
// them): library, benchmarks and tests (tsconfig.test.json) and the browser page (web/tsconfig.json).
// Each project that does not typecheck counts as one failure. Runs of chosen files skip this.
const selected = process.argv.slice(2);
let typeFailures = 0;
if (selected.length === 0) {
  for (const project of ['tsconfig.test.json', 'web/tsconfig.json']) {
    const check = spawnSync('npx', ['tsc', '-p', project, '--noEmit'], { stdio: 'inherit' });
    if (check.status !== 0) typeFailures += 1;
    console.log(`typecheck ${project}: ${check.status === 0 ? 'ok' : 'FAILED'}`);
  }
}

const out = join(mkdtempSync(join(tmpdir(), 'trustgc-tests-')), 'results.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...selected];
const run = spawnSync('npx', args, { stdio: 'inherit' });

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(out)) {
  const report = JSON.parse(readFileSync(out, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
} else {
  failed = 1; // vitest did not get as far as reporting
}
failed += typeFailures;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
