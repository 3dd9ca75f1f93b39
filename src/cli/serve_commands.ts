/** `trustgc serve` (the HTTP API) and `trustgc explore` (the API plus the browser explorer). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { initEngine } from '../engine/backend.js';
import { buildServer } from '../serve/server.js';
import type { ServeOptions } from '../serve/server.js';
import { projectRoot } from '../util/paths.js';

const positive = (what: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${v}"`);
  return x;
};

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
    .option('--max-batch <n>', 'most images in one forward pass', positive('--max-batch'), 32)
    .option('--max-queue <n>', 'most waiting requests before new ones get 503', positive('--max-queue'), 256)
    .option('--heatmap-steps <n>', 'integrated-gradient steps per heatmap (models without a DCT latent)', positive('--heatmap-steps'), 64)
    .option('--log', 'log every request (JSON lines)', false);
}

async function start(o: Record<string, unknown>, explorer: string | undefined): Promise<void> {
  const alpha = o.alpha as number;
  if (!(alpha > 0 && alpha < 1)) throw new InvalidArgumentError(`--alpha must be in (0, 1), got ${alpha}`);
  await initEngine();
  const opts: ServeOptions = {
    modelDir: o.model as string,
    alpha,
    maxBytes: o.maxBytes as number,
    maxBatch: o.maxBatch as number,
    maxQueue: o.maxQueue as number,
    heatmapSteps: o.heatmapSteps as number,
    explorerDir: explorer,
    logger: o.log as boolean,
  };
  const app = await buildServer(opts);
  const url = await app.listen({ port: o.port as number, host: o.host as string });
  console.error(`trustgc: serving ${o.model} at ${url}${explorer ? ` (explorer at ${url}/)` : ''} — API description at ${url}/openapi.json`);
  const stop = () => {
    console.error('trustgc: shutting down');
    void app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

export function addServeCommands(program: Command): void {
  serverOptions(program.command('serve').description('HTTP API: POST /v1/predict and /v1/explain (image upload), GET /v1/model, /healthz, /openapi.json')).action((o) => start(o, undefined));

  serverOptions(program.command('explore').description('the browser explorer (runs the model in the page with tfjs) plus the HTTP API'))
    .option('--rebuild', 'build the page again even if web/dist exists', false)
    .action(async (o) => {
      const dir = explorerDir();
      if (o.rebuild || !existsSync(join(dir, 'index.html'))) await buildExplorer();
      await start(o, dir);
    });
}
