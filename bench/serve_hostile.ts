/**
 * `trustgc serve` against hostile clients, on loopback only, bounded in count and time, stopping by
 * itself. The server runs in its own process with its default limits. Healthy clients post an MNIST
 * digit to /v1/predict at a steady rate from 127.0.0.2 for the whole run, while the hostile mix runs
 * from other loopback addresses (the 127.0.0.0/8 range stands in for other machines):
 *   slowloris   headers sent a byte at a time          → 408 within the headers timeout
 *   idle        sockets that never send anything        → closed within the idle timeout
 *   slow body   8 MB declared, 2 KB/s sent              → 408 after the body-rate grace period
 *   flood       one address opening hundreds of sockets → 503 beyond the per-client cap
 *   huge        6 300 × 6 300 PNGs, 32 at once, in waves → 413 from the header, never decoded
 *   bomb        tiny PNGs declaring 40 000 × 40 000, 32 at once, in waves → 413 from the header
 *   malformed   random bytes, cut-off PNGs, wrong types  → 4xx
 * Reports healthy p50/p99 latency and errors, the server's peak RSS (from /proc), how long each
 * hostile kind's sockets stayed open and how many were still open at the end, and whether the
 * server is alive. Writes bench/results/serve-hostile.{json,md}.
 *
 *   npm run bench:serve-hostile [-- --seconds 30 --idle 3000 --slowloris 300]
 */
import { Command } from 'commander';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadDataset } from '../src/data/registry.js';
import { DEFAULT_LIMITS } from '../src/serve/guards.js';
import { MersenneTwister } from '../src/util/rng.js';
import { projectRoot } from '../src/util/paths.js';
import { bombPng } from './hostile_images.js';

const cli = new Command('serve-hostile')
  .option('--model <dir>', 'model folder', join(projectRoot(), 'zoo', 'mnist-gc-beta1'))
  .option('--seconds <s>', 'length of the hostile phase', Number, 30)
  .option('--healthy-rate <n>', 'healthy requests per second', Number, 10)
  .option('--slowloris <n>', 'slowloris sockets', Number, 300)
  .option('--idle <n>', 'idle sockets', Number, 3000)
  .option('--slow-bodies <n>', 'slow 8 MB uploads', Number, 100)
  .option('--flood <n>', 'sockets opened from one address', Number, 500)
  .option('--huge <n>', 'concurrent huge PNGs per wave', Number, 32)
  .option('--bombs <n>', 'concurrent bomb PNGs per wave', Number, 32)
  .option('--malformed <n>', 'malformed uploads', Number, 200)
  .option('--port <n>', 'port', Number, 8392)
  .option('--out <dir>', 'results folder', join(projectRoot(), 'bench', 'results'))
  .parse();
const o = cli.opts();
const HOST = '127.0.0.1';
const HEALTHY_ADDRESS = '127.0.0.2';
const started = Date.now();
const now = () => Date.now() - started;

// ---------------------------------------------------------------- server and its memory

function startServer(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'trustgc.js'), 'serve', '--model', o.model, '--port', String(o.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const poll = setInterval(async () => {
      if (child.exitCode !== null) {
        clearInterval(poll);
        reject(new Error(`server exited with ${child.exitCode}: ${stderr}`));
      }
      const h = await get('/healthz').catch(() => null);
      if (h?.status === 200) {
        clearInterval(poll);
        resolve(child);
      }
    }, 300);
  });
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------- HTTP with a chosen source address

interface Answer {
  status: number;
  ms: number;
  body: string;
}

function send(method: string, path: string, body: Buffer | null, headers: Record<string, string>, localAddress: string, timeoutMs = 60_000): Promise<Answer> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port: o.port, method, path, headers: { connection: 'close', ...headers }, localAddress, agent: false, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - t0, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

const get = (path: string) => send('GET', path, null, {}, HEALTHY_ADDRESS, 5000);

// ---------------------------------------------------------------- raw hostile sockets

interface Tracked {
  kind: string;
  /** when connect() was called, and when the connection was established (lifetimes count from then) */
  requested: number;
  opened?: number;
  closed?: number;
  /** first status line the server sent, if any */
  answer?: string;
}

const tracked: Tracked[] = [];
const sockets: Socket[] = [];

function hostileSocket(kind: string, localAddress: string, onConnect: (s: Socket) => void): void {
  const t: Tracked = { kind, requested: now() };
  tracked.push(t);
  const s = connect({ host: HOST, port: o.port, localAddress });
  sockets.push(s);
  s.on('connect', () => {
    t.opened = now();
    onConnect(s);
  });
  s.on('data', (d) => (t.answer ??= d.toString('latin1').split('\r\n')[0]));
  s.on('error', () => {});
  s.on('close', () => (t.closed = now()));
}

const address = (block: number, i: number, perAddress: number) => `127.${block}.${Math.floor(i / perAddress / 250)}.${1 + (Math.floor(i / perAddress) % 250)}`;

function slowloris(n: number): void {
  for (let i = 0; i < n; i++) {
    hostileSocket('slowloris', address(1, i, 10), (s) => {
      s.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      const drip = setInterval(() => (s.writable ? s.write('a') : clearInterval(drip)), 1000);
      s.on('close', () => clearInterval(drip));
    });
  }
}

function idle(n: number): void {
  for (let i = 0; i < n; i++) hostileSocket('idle', address(2, i, 50), () => {});
}

function slowBodies(n: number): void {
  for (let i = 0; i < n; i++) {
    hostileSocket('slow body', address(3, i, 10), (s) => {
      s.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: ${8 * 1024 * 1024}\r\n\r\n`);
      const drip = setInterval(() => (s.writable ? s.write(Buffer.alloc(1024)) : clearInterval(drip)), 500);
      s.on('close', () => clearInterval(drip));
    });
  }
}

function flood(n: number): void {
  for (let i = 0; i < n; i++) hostileSocket('flood (one address)', '127.4.0.1', () => {});
}

// ---------------------------------------------------------------- hostile uploads

interface UploadTally {
  sent: number;
  statuses: Record<string, number>;
  maxMs: number;
}

async function uploads(kind: string, make: (i: number) => { body: Buffer; type: string }, count: number, concurrency: number, tally: Map<string, UploadTally>, until: number): Promise<void> {
  const t: UploadTally = tally.get(kind) ?? { sent: 0, statuses: {}, maxMs: 0 };
  tally.set(kind, t);
  let i = 0;
  while (i < count && now() < until) {
    const wave = Array.from({ length: Math.min(concurrency, count - i) }, () => {
      const { body, type } = make(i++);
      t.sent++;
      return send('POST', '/v1/predict', body, { 'content-type': type }, `127.5.0.${1 + (i % 200)}`, 30_000)
        .then((a) => {
          t.statuses[a.status] = (t.statuses[a.status] ?? 0) + 1;
          t.maxMs = Math.max(t.maxMs, a.ms);
        })
        .catch((e: Error) => {
          t.statuses[`error: ${e.message.slice(0, 40)}`] = (t.statuses[`error: ${e.message.slice(0, 40)}`] ?? 0) + 1;
        });
    });
    await Promise.all(wave);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---------------------------------------------------------------- the run

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function main(): Promise<void> {
  const test = await loadDataset('mnist', 'test');
  const digit = await sharp(Buffer.from(test.pixels.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
  // a smooth 6 300 × 6 300 picture: small enough as a PNG to pass the upload-size limit
  const hugeSide = 6300;
  const gradient = Buffer.alloc(hugeSide * 64);
  for (let y = 0; y < 64; y++) for (let x = 0; x < hugeSide; x++) gradient[y * hugeSide + x] = (x * 255) / hugeSide;
  const huge = await sharp(gradient, { raw: { width: hugeSide, height: 64, channels: 1 } }).resize(hugeSide, hugeSide, { kernel: 'nearest' }).png({ compressionLevel: 9 }).toBuffer();
  const bomb = bombPng(40_000, 40_000);
  const rng = new MersenneTwister(7);
  const malformed = (i: number): { body: Buffer; type: string } => {
    const kind = i % 4;
    if (kind === 0) return { body: Buffer.from(Array.from({ length: 200 + (i % 5000) }, () => Math.floor(rng.uniform() * 256))), type: 'image/png' };
    if (kind === 1) return { body: digit.subarray(0, 1 + (i % digit.length)), type: 'image/png' };
    if (kind === 2) return { body: Buffer.from('{"not": "an image"}'), type: 'application/json' };
    return { body: Buffer.concat([Buffer.from('--x\r\nContent-Disposition: form-data; name="file"\r\n\r\n'), digit.subarray(0, 50)]), type: 'multipart/form-data; boundary=x' };
  };

  console.error(`starting trustgc serve on ${HOST}:${o.port} (huge PNG ${hugeSide}² = ${(huge.length / 1e6).toFixed(2)} MB, bomb ${bomb.length} bytes declaring 40 000²)`);
  const server = await startServer();
  const pid = server.pid!;
  let rssPeak = rssMB(pid);
  const rssBefore = rssPeak;
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssMB(pid))), 200);

  // healthy clients for the whole run
  const healthy: Array<{ at: number; ms: number; status: number | string }> = [];
  let healthyRunning = true;
  const healthyLoop = (async () => {
    const pending: Promise<void>[] = [];
    while (healthyRunning) {
      const at = now();
      pending.push(
        send('POST', '/v1/predict', digit, { 'content-type': 'image/png' }, HEALTHY_ADDRESS, 10_000)
          .then((a) => void healthy.push({ at, ms: a.ms, status: a.status }))
          .catch((e: Error) => void healthy.push({ at, ms: NaN, status: e.message })),
      );
      await new Promise((r) => setTimeout(r, 1000 / o.healthyRate));
    }
    await Promise.all(pending);
  })();

  await new Promise((r) => setTimeout(r, 2000)); // a calm baseline first
  const hostileStart = now();
  const hostileEnd = hostileStart + o.seconds * 1000;
  console.error(`hostile phase: ${o.seconds} s`);
  slowloris(o.slowloris);
  idle(o.idle);
  slowBodies(o.slowBodies);
  flood(o.flood);
  const tally = new Map<string, UploadTally>();
  await Promise.all([
    uploads(`huge PNG (${hugeSide}²)`, () => ({ body: huge, type: 'image/png' }), Infinity, o.huge, tally, hostileEnd),
    uploads('bomb PNG (40 000² declared)', () => ({ body: bomb, type: 'image/png' }), Infinity, o.bombs, tally, hostileEnd),
    uploads('malformed', malformed, o.malformed, 4, tally, hostileEnd),
    new Promise((r) => setTimeout(r, hostileEnd - now())),
  ]);
  healthyRunning = false;
  await healthyLoop;
  const endedAt = now();
  const stillOpen = tracked.filter((t) => t.closed === undefined);
  const alive = (await get('/healthz').catch(() => null))?.status === 200;
  const serverHealth = alive ? JSON.parse((await get('/healthz')).body) : null;
  clearInterval(rssTimer);
  for (const s of sockets) s.destroy();
  server.kill('SIGTERM');
  const exitCode = await new Promise<number | null>((r) => server.once('exit', (c) => r(c)));

  // ---------------------------------------------------------------- report
  const ok = healthy.filter((h) => h.status === 200).map((h) => h.ms).sort((a, b) => a - b);
  const healthyErrors = healthy.filter((h) => h.status !== 200);
  const during = healthy.filter((h) => h.at >= hostileStart && h.at < hostileEnd && h.status === 200).map((h) => h.ms).sort((a, b) => a - b);
  // each kind's timeout, plus how often it is checked (Node: every second; the body rate: every 250 ms),
  // plus 0.5 s for scheduling on a loaded machine. A socket that never sends a request is timed out
  // by the headers timeout (Node starts it at the connection) or the idle timeout, whichever is first.
  const silent = Math.min(DEFAULT_LIMITS.headersTimeoutMs, DEFAULT_LIMITS.idleTimeoutMs) + 1000 + 500;
  const limits = {
    slowloris: DEFAULT_LIMITS.headersTimeoutMs + 1000 + 500,
    idle: silent,
    'slow body': DEFAULT_LIMITS.bodyRateGraceMs + 250 + 500,
    'flood (one address)': silent, // those past the per-client cap are answered at once, the rest time out as idle
  } as Record<string, number>;
  const kinds = [...new Set(tracked.map((t) => t.kind))].map((kind) => {
    const mine = tracked.filter((t) => t.kind === kind);
    const lifetimes = mine.filter((t) => t.closed !== undefined).map((t) => t.closed! - (t.opened ?? t.requested)).sort((a, b) => a - b);
    const connectWaits = mine.filter((t) => t.opened !== undefined).map((t) => t.opened! - t.requested).sort((a, b) => a - b);
    const answers: Record<string, number> = {};
    for (const t of mine) answers[t.answer ?? '(none)'] = (answers[t.answer ?? '(none)'] ?? 0) + 1;
    return {
      kind,
      sockets: mine.length,
      closedByServer: lifetimes.length,
      stillOpen: mine.length - lifetimes.length,
      medianOpenMs: percentile(lifetimes, 0.5),
      maxOpenMs: lifetimes.at(-1) ?? NaN,
      limitMs: limits[kind],
      neverConnected: mine.filter((t) => t.opened === undefined).length,
      longestConnectWaitMs: connectWaits.at(-1) ?? NaN,
      withinLimit: mine.length === lifetimes.length && (lifetimes.at(-1) ?? 0) <= limits[kind],
      answers,
    };
  });
  const result = {
    date: new Date().toISOString().slice(0, 10),
    model: o.model,
    limits: DEFAULT_LIMITS,
    hostileSeconds: o.seconds,
    runSeconds: endedAt / 1000,
    healthy: {
      requests: healthy.length,
      ok: ok.length,
      errors: healthyErrors.length,
      errorKinds: [...new Set(healthyErrors.map((h) => String(h.status)))],
      p50Ms: percentile(ok, 0.5),
      p99Ms: percentile(ok, 0.99),
      maxMs: ok.at(-1) ?? NaN,
      duringAttack: { requests: during.length, p50Ms: percentile(during, 0.5), p99Ms: percentile(during, 0.99) },
    },
    rssMB: { before: Math.round(rssBefore), peak: Math.round(rssPeak) },
    sockets: kinds,
    uploads: Object.fromEntries(tally),
    stillOpenAtEnd: stillOpen.length,
    serverAlive: alive,
    serverHealth,
    serverExitCode: exitCode,
  };
  const targets = [
    ['healthy p99 ≤ 1 s', result.healthy.p99Ms <= 1000],
    ['0 healthy errors', result.healthy.errors === 0],
    ['server RSS ≤ 1 GB', result.rssMB.peak <= 1024],
    ['every hostile socket closed within its timeout', kinds.every((k) => k.withinLimit)],
    ['server alive', alive],
  ] as const;
  const md = [
    '# `trustgc serve` against hostile clients',
    '',
    `\`npm run bench:serve-hostile\` (${result.date}; ${o.model.replace(projectRoot() + '/', '')}; server with its default limits in its own process, clients in the bench process, all on loopback on this 2-core machine; hostile phase ${o.seconds} s).`,
    '',
    '| target | met |',
    '|---|---|',
    ...targets.map(([t, met]) => `| ${t} | ${met ? 'yes' : '**no**'} |`),
    '',
    `Healthy clients (${o.healthyRate}/s from ${HEALTHY_ADDRESS}, a new connection each): ${result.healthy.requests} requests, ${result.healthy.errors} errors${result.healthy.errors ? ` (${result.healthy.errorKinds.join(', ')})` : ''}; ` +
      `p50 ${result.healthy.p50Ms} ms, p99 ${result.healthy.p99Ms} ms, max ${result.healthy.maxMs} ms (during the attack: p50 ${result.healthy.duringAttack.p50Ms} ms, p99 ${result.healthy.duringAttack.p99Ms} ms). ` +
      `Server RSS ${result.rssMB.before} MB before, ${result.rssMB.peak} MB at its peak. Alive at the end: ${alive ? 'yes' : 'no'}; exit code on SIGTERM: ${exitCode}.`,
    '',
    'Socket lifetimes count from the established connection; the limit is the timeout plus its check interval plus 0.5 s.',
    '',
    '| hostile sockets | count | closed by the server | still open | median open | longest open | limit | longest wait to connect | answer |',
    '|---|---|---|---|---|---|---|---|---|',
    ...kinds.map((k) => `| ${k.kind} | ${k.sockets} | ${k.closedByServer} | ${k.stillOpen} | ${(k.medianOpenMs / 1000).toFixed(1)} s | ${(k.maxOpenMs / 1000).toFixed(1)} s | ${(k.limitMs / 1000).toFixed(2)} s | ${(k.longestConnectWaitMs / 1000).toFixed(1)} s${k.neverConnected ? ` (${k.neverConnected} never connected)` : ''} | ${Object.entries(k.answers).map(([a, n]) => `${a} ×${n}`).join('; ')} |`),
    '',
    '| hostile uploads | sent | answers | slowest |',
    '|---|---|---|---|',
    ...[...tally].map(([kind, t]) => `| ${kind} | ${t.sent} | ${Object.entries(t.statuses).map(([s, n]) => `${s} ×${n}`).join(', ')} | ${t.maxMs} ms |`),
    '',
  ].join('\n');
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'serve-hostile.json'), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(join(o.out, 'serve-hostile.md'), md);
  console.log(md);
  process.exit(targets.every(([, met]) => met) ? 0 : 1);
}

await main();
