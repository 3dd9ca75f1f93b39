/** `trustgc serve` (the HTTP API) and `trustgc explore` (the API plus the browser explorer). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { nonNegativeInteger, positiveInteger } from './option_parsers.js';
import { initEngine } from '../engine/backend.js';
import { buildServer } from '../serve/server.js';
import type { ServeOptions } from '../serve/server.js';
import { DEFAULT_LIMITS, checkExposure } from '../serve/guards.js';
import type { ServeLimits } from '../serve/guards.js';
import { projectRoot } from '../util/paths.js';
import { checkModelFolder } from '../io/checkpoint.js';

/** "10s", "500ms", "2m" or plain milliseconds → ms */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`"${v}" is not a duration (e.g. 10s, 500ms, 2m)`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms').toLowerCase() as 'ms']);
}
const seconds = (ms: number) => `${ms / 1000}s`;

/** "8mb", "512kb", "1000000" → bytes */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`"${v}" is not a size (e.g. 8mb, 512kb, 100000)`);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  return Math.round(Number(m[1]) * unit);
}

/** The built explorer (vite build of web/ into web/dist). */
export function explorerDir(): string {
  return join(projectRoot(), 'web', 'dist');
}

/** vite build of web/ (vite is a development dependency: an installed package ships web/dist instead). */
async function buildExplorer(): Promise<void> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error(`the explorer is not built (${explorerDir()} is missing) and vite is not installed to build it: run npm install, then npm run build:web`);
  }
  console.error('trustgc: building the explorer (vite)…');
  await vite.build({ configFile: join(projectRoot(), 'web', 'vite.config.ts'), logLevel: 'warn' });
}

function serverOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir>', 'model folder')
    .option('--port <n>', 'port', (v) => Number(v), 8080)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--alpha <α>', 'default significance level of the OoD verdict', (v) => Number(v), 0.01)
    .option('--max-bytes <size>', 'largest upload', parseBytes, 8 * 1024 * 1024)
    .option('--max-batch <n>', 'most images in one forward pass', positiveInteger('--max-batch'), 32)
    .option('--max-queue <n>', 'most waiting requests before new ones get 503', positiveInteger('--max-queue'), 256)
    .option('--heatmap-steps <n>', 'integrated-gradient steps per heatmap (models without a DCT latent)', positiveInteger('--heatmap-steps'), 64)
    .option('--max-pixels <n>', 'largest image (width × height), read from its header before decoding (default: 1024 × the model input, 1–16 MP)', positiveInteger('--max-pixels'))
    .option('--decode-concurrency <n>', 'images decoded at once (default: the core count)', positiveInteger('--decode-concurrency'))
    .option('--decode-queue <n>', 'uploads waiting for a decoder before new ones get 503', nonNegativeInteger('--decode-queue'), 64)
    .option('--token <token>', 'require "Authorization: Bearer <token>" on the API and model files (default: TRUSTGC_TOKEN)')
    .option('--insecure-no-auth', 'allow a non-loopback --host without a token', false)
    .option('--cors-origin <list>', 'comma-separated origins allowed to call the API from a browser (default: none)')
    .option('--rate-limit <n>', 'requests per minute per client address, 429 beyond (default: off)', positiveInteger('--rate-limit'))
    .option('--headers-timeout <t>', 'time to receive the request headers (408 beyond)', parseDuration, DEFAULT_LIMITS.headersTimeoutMs)
    .option('--request-timeout <t>', 'time to receive a whole request (408 beyond)', parseDuration, DEFAULT_LIMITS.requestTimeoutMs)
    .option('--keep-alive-timeout <t>', 'how long an idle keep-alive connection stays open', parseDuration, DEFAULT_LIMITS.keepAliveTimeoutMs)
    .option('--idle-timeout <t>', 'close a socket without traffic after this long', parseDuration, DEFAULT_LIMITS.idleTimeoutMs)
    .option('--min-body-rate <size>', 'slowest upload rate accepted per second after a grace period (408 below)', parseBytes, DEFAULT_LIMITS.minBodyBytesPerSecond)
    .option('--max-connections <n>', 'open connections; beyond this, 503', positiveInteger('--max-connections'), DEFAULT_LIMITS.maxConnections)
    .option('--max-connections-per-client <n>', 'open connections from one address; beyond this, 503', positiveInteger('--max-connections-per-client'), DEFAULT_LIMITS.maxConnectionsPerClient)
    .option('--shutdown-timeout <t>', 'on SIGTERM/SIGINT, how long in-flight requests may take to finish', parseDuration, 10_000)
    .option('--log', 'log every request (JSON lines)', false);
}

async function start(o: Record<string, unknown>, explorer: string | undefined): Promise<void> {
  const alpha = o.alpha as number;
  if (!(alpha > 0 && alpha < 1)) throw new InvalidArgumentError(`--alpha must be in (0, 1), got ${alpha}`);
  const token = (o.token as string | undefined) ?? process.env.TRUSTGC_TOKEN;
  checkExposure(o.host as string, token, o.insecureNoAuth as boolean);
  await initEngine();
  const limits: ServeLimits = {
    ...DEFAULT_LIMITS,
    headersTimeoutMs: o.headersTimeout as number,
    requestTimeoutMs: o.requestTimeout as number,
    keepAliveTimeoutMs: o.keepAliveTimeout as number,
    idleTimeoutMs: o.idleTimeout as number,
    minBodyBytesPerSecond: o.minBodyRate as number,
    maxConnections: o.maxConnections as number,
    maxConnectionsPerClient: o.maxConnectionsPerClient as number,
  };
  const opts: ServeOptions = {
    modelDir: o.model as string,
    alpha,
    maxBytes: o.maxBytes as number,
    maxBatch: o.maxBatch as number,
    maxQueue: o.maxQueue as number,
    heatmapSteps: o.heatmapSteps as number,
    explorerDir: explorer,
    logger: o.log as boolean,
    maxPixels: o.maxPixels as number | undefined,
    decodeConcurrency: o.decodeConcurrency as number | undefined,
    decodeQueue: o.decodeQueue as number,
    limits,
    token,
    corsOrigins: (o.corsOrigin as string | undefined)?.split(',').map((x) => x.trim()).filter(Boolean),
    rateLimitPerMinute: o.rateLimit as number | undefined,
  };
  const app = await buildServer(opts);
  // a deep accept queue, so that a burst of connections is accepted (and then timed out) rather than left waiting in the kernel
  const url = await app.listen({ port: o.port as number, host: o.host as string, backlog: 2048 });
  console.error(`trustgc: serving ${o.model} at ${url}${explorer ? ` (explorer at ${url}/${token ? '#token=…' : ''})` : ''} — API description at ${url}/openapi.json`);
  console.error(
    `trustgc: ${token ? 'bearer token required' : 'no authentication'}; headers within ${seconds(limits.headersTimeoutMs)}, requests within ${seconds(limits.requestTimeoutMs)}, ` +
      `idle sockets closed after ${seconds(limits.idleTimeoutMs)}; at most ${limits.maxConnections} connections (${limits.maxConnectionsPerClient} per client)`,
  );
  // stop accepting, let in-flight requests finish, exit 0; requests still running at the deadline are cut off
  const deadline = o.shutdownTimeout as number;
  const stop = (signal: string) => {
    console.error(`trustgc: ${signal}: not accepting new connections; finishing in-flight requests (at most ${seconds(deadline)})`);
    const force = setTimeout(() => {
      console.error(`trustgc: requests still running after ${seconds(deadline)}: closing their connections`);
      app.server.closeAllConnections();
      process.exit(0);
    }, deadline);
    force.unref();
    void app.close().then(() => {
      console.error('trustgc: stopped');
      process.exit(0);
    });
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

export function addServeCommands(program: Command): void {
  serverOptions(program.command('serve').description('HTTP API: POST /v1/predict and /v1/explain (image upload), GET /v1/model, /healthz, /openapi.json')).action((o) => start(o, undefined));

  serverOptions(program.command('explore').description('the browser explorer (runs the model in the page with tfjs) plus the HTTP API'))
    .option('--rebuild', 'build the page again even if web/dist exists', false)
    .action(async (o) => {
      checkModelFolder(o.model); // before a build that takes seconds
      const dir = explorerDir();
      if (o.rebuild || !existsSync(join(dir, 'index.html'))) await buildExplorer();
      await start(o, dir);
    });
}
