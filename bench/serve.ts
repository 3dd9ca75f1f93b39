/**
 * Load test of the HTTP API: `trustgc serve` in its own process on loopback, autocannon posting a
 * 28×28 MNIST digit to /v1/predict at 1, 8 and 32 concurrent connections for a fixed time each;
 * then /v1/explain at 1 connection; then a fuzz run of malformed uploads. Records throughput,
 * p50/p99 latency, errors, and the server's resident memory and live-tensor count sampled every
 * second from /healthz (flat memory = no leak). Writes bench/results/serve.{json,md}.
 *
 *   npm run bench:serve [-- --model zoo/mnist-gc-beta1 --seconds 20 --fuzz 600]
 */
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { loadDataset } from '../src/data/registry.js';
import { MersenneTwister } from '../src/util/rng.js';
import { projectRoot } from '../src/util/paths.js';

const cli = new Command('serve-bench')
  .option('--model <dir>', 'model folder', join(projectRoot(), 'zoo', 'mnist-gc-beta1'))
  .option('--seconds <s>', 'duration of each load level', Number, 20)
  .option('--levels <list>', 'concurrent connections', '1,8,32')
  .option('--fuzz <n>', 'malformed uploads', Number, 600)
  .option('--port <n>', 'port', Number, 8391)
  .parse();
const o = cli.opts();
const base = `http://127.0.0.1:${o.port}`;

interface Health {
  rssMB: number;
  tensors: number;
  queue: { batches: number; items: number; largestBatch: number; rejected: number };
}

async function health(): Promise<Health> {
  return (await fetch(`${base}/healthz`)).json() as Promise<Health>;
}

async function startServer(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'trustgc.js'), 'serve', '--model', o.model, '--port', String(o.port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      await health();
      return child;
    } catch {
      // not listening yet
    }
  }
  throw new Error('server did not start within 60 s');
}

/** Samples /healthz every second while `work` runs. */
async function sampled<T>(work: () => Promise<T>): Promise<{ result: T; rss: number[]; tensors: number[] }> {
  const rss: number[] = [];
  const tensors: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      const h = await health();
      rss.push(h.rssMB);
      tensors.push(h.tensors);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const result = await work();
  done = true;
  await sampler;
  return { result, rss, tensors };
}

interface Level {
  endpoint: string;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  rssMB: { start: number; end: number; max: number };
  tensors: { start: number; end: number };
}

async function load(endpoint: string, connections: number, body: Buffer, seconds: number): Promise<Level> {
  const { result, rss, tensors } = await sampled(
    () =>
      autocannon({
        url: `${base}${endpoint}`,
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body,
        connections,
        duration: seconds,
        timeout: 60,
      }) as Promise<autocannon.Result>,
  );
  const r = result;
  return {
    endpoint,
    connections,
    seconds,
    requests: r.requests.total,
    requestsPerSecond: r.requests.total / seconds,
    p50ms: r.latency.p50,
    p99ms: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    rssMB: { start: rss[0], end: rss[rss.length - 1], max: Math.max(...rss) },
    tensors: { start: tensors[0], end: tensors[tensors.length - 1] },
  };
}

/** Malformed uploads of many kinds; every answer must be a 4xx JSON error and the server must stay up. */
const FUZZ_KINDS = ['truncated', 'corrupted bytes', 'random bytes', 'empty', 'not an image type', 'broken multipart', 'over the size limit', 'valid signature, garbage after'];

async function fuzz(n: number, png: Buffer, jpeg: Buffer): Promise<{ requests: number; byStatus: Record<string, number>; byKind: Record<string, Record<string, number>>; serverErrors: number; crashed: boolean; codes: Record<string, number> }> {
  const rng = new MersenneTwister(99);
  const pick = <T>(a: T[]) => a[Math.floor(rng.uniform() * a.length)];
  const byStatus: Record<string, number> = {};
  const byKind: Record<string, Record<string, number>> = {};
  const codes: Record<string, number> = {};
  let serverErrors = 0;
  for (let i = 0; i < n; i++) {
    const src = pick([png, jpeg]);
    const kind = i % 8;
    let body: Buffer;
    let type = pick(['image/png', 'image/jpeg', 'application/octet-stream']);
    if (kind === 0) body = src.subarray(0, Math.floor(rng.uniform() * src.length)); // truncated
    else if (kind === 1) {
      body = Buffer.from(src); // corrupted bytes
      for (let k = 0; k < 1 + Math.floor(rng.uniform() * 20); k++) body[Math.floor(rng.uniform() * body.length)] = Math.floor(rng.uniform() * 256);
    } else if (kind === 2) body = Buffer.from(Array.from({ length: Math.floor(rng.uniform() * 4096) }, () => Math.floor(rng.uniform() * 256))); // noise
    else if (kind === 3) body = Buffer.alloc(0);
    else if (kind === 4) {
      body = Buffer.from('{"image": "not really"}');
      type = pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
    } else if (kind === 5) {
      body = Buffer.concat([Buffer.from('--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\n'), src.subarray(0, Math.floor(rng.uniform() * src.length))]); // broken multipart
      type = 'multipart/form-data; boundary=b';
    } else if (kind === 6) body = Buffer.alloc(9 * 1024 * 1024, 7); // over the size limit
    else body = Buffer.concat([src.subarray(0, 8), Buffer.from(Array.from({ length: 200 }, () => Math.floor(rng.uniform() * 256)))]); // valid signature, garbage after
    // a bad query parameter in one request of four (it is checked before the body)
    const query = rng.uniform() < 0.25 ? pick(['?alpha=-1', '?top=0', '?convert=maybe', '?x=1']) : pick(['', '?alpha=0.05', '?top=3']);
    const count = (status: string) => {
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      const k = (byKind[FUZZ_KINDS[kind]] ??= {});
      k[status] = (k[status] ?? 0) + 1;
    };
    try {
      const r = await fetch(`${base}${pick(['/v1/predict', '/v1/explain'])}${query}`, { method: 'POST', headers: { 'content-type': type }, body: new Uint8Array(body) });
      count(String(r.status));
      const j = (await r.json().catch(() => ({}))) as { error?: { code?: string } };
      if (j.error?.code) codes[j.error.code] = (codes[j.error.code] ?? 0) + 1;
      if (r.status >= 500) serverErrors++;
    } catch {
      count('connection closed');
    }
  }
  let crashed = false;
  try {
    await health();
  } catch {
    crashed = true;
  }
  return { requests: n, byStatus, byKind, serverErrors, crashed, codes };
}

const mnist = await loadDataset('mnist', 'test');
const digit = Buffer.from(mnist.pixels.subarray(0, 784));
const png = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toBuffer();
const jpeg = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').jpeg().toBuffer();
const server = await startServer();
try {
  const levels: Level[] = [];
  // warm-up (first batches compile kernels)
  await load('/v1/predict', 4, png, 3);
  for (const c of String(o.levels).split(',').map(Number)) {
    const l = await load('/v1/predict', c, png, o.seconds);
    levels.push(l);
    console.error(`predict ×${c}: ${l.requestsPerSecond.toFixed(1)} req/s, p50 ${l.p50ms} ms, p99 ${l.p99ms} ms, errors ${l.errors}, non-2xx ${l.non2xx}, RSS ${l.rssMB.start}→${l.rssMB.end} MB`);
  }
  // the same top level again: a server that does not leak keeps its memory where the first run left it
  const maxLevel = Math.max(...String(o.levels).split(',').map(Number));
  const again = await load('/v1/predict', maxLevel, png, o.seconds);
  levels.push({ ...again, endpoint: '/v1/predict (repeat)' });
  console.error(`predict ×${maxLevel} again: RSS ${again.rssMB.start}→${again.rssMB.end} MB`);
  const ex = await load('/v1/explain', 1, png, o.seconds);
  levels.push(ex);
  console.error(`explain ×1: ${ex.requestsPerSecond.toFixed(2)} req/s, p50 ${ex.p50ms} ms`);
  const f = await fuzz(o.fuzz, png, jpeg);
  console.error(`fuzz: ${JSON.stringify(f)}`);
  const h = await health();
  const record = { date: new Date().toISOString(), cpu: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}`, model: o.model, levels, fuzz: f, batching: h.queue };
  const dir = join(projectRoot(), 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'serve.json'), JSON.stringify(record, null, 2) + '\n');
  const rows = levels.map((l) => `| ${l.endpoint} | ${l.connections} | ${l.requests} | ${l.requestsPerSecond.toFixed(1)} | ${l.p50ms} | ${l.p99ms} | ${l.errors} | ${l.non2xx} | ${l.rssMB.start} → ${l.rssMB.end} (max ${l.rssMB.max}) | ${l.tensors.start} → ${l.tensors.end} |`);
  const md = [
    '| endpoint | connections | requests | req/s | p50 ms | p99 ms | errors | non-2xx | server RSS MB | live tensors |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Fuzz: ${f.requests} malformed uploads to /v1/predict and /v1/explain, a quarter with a bad query parameter as well; 5xx answers: ${f.serverErrors}; server ${f.crashed ? 'CRASHED' : 'still up'} afterwards.`,
    '',
    '| upload | answers |',
    '|---|---|',
    ...Object.entries(f.byKind).map(([k, v]) => `| ${k} | ${Object.entries(v).map(([s, c]) => `${s}: ${c}`).join(', ')} |`),
    '',
    `Error codes: ${Object.entries(f.codes).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    `Batching over the run: ${h.queue.items} predictions in ${h.queue.batches} batches (largest ${h.queue.largestBatch}); ${h.queue.rejected} refused as busy.`,
    '',
    `Model ${o.model}; ${o.seconds} s per level on loopback, server and autocannon on the same ${record.cpu}. Command: \`npm run bench:serve\`.`,
  ].join('\n');
  writeFileSync(join(dir, 'serve.md'), md + '\n');
  console.log(md);
} finally {
  server.kill('SIGTERM');
}
