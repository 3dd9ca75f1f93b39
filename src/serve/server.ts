/**
 * The HTTP API (fastify): a trained classifier behind POST /v1/predict and /v1/explain, its card at
 * GET /v1/model, GET /healthz, and the OpenAPI description at GET /openapi.json. Predictions from
 * concurrent clients are batched into shared forward passes (batcher.ts); explanations, which
 * take a backward pass per class, run one at a time. Every bad request gets a 4xx JSON error
 * {error: {code, message}}; nothing a client sends can crash the process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import { tf } from '../engine/backend.js';
import { GenerativeClassifier } from '../gc/model.js';
import { CONFIG_FILE, MODEL_FILE, loadModel } from '../io/checkpoint.js';
import { OOD_REFERENCE_FILE, loadReference } from '../eval/ood_reference.js';
import type { OodReference } from '../eval/ood_reference.js';
import { analyzeBatch } from '../explain/analyze.js';
import type { ImageAnalysis } from '../explain/analyze.js';
import { posteriorHeatmaps } from '../explain/attribution.js';
import { heatmapPng } from '../plots/explain.js';
import { Batcher, QueueFullError } from './batcher.js';
import { UploadError, decodeUpload, defaultMaxPixels } from './upload.js';
import { modelCard } from './model_card.js';
import { WorkPool } from './work_pool.js';
import { DEFAULT_LIMITS, httpServerOptions, installBearerAuth, installConnectionGuards } from './guards.js';
import type { ServeLimits } from './guards.js';
import os from 'node:os';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';

export interface ServeOptions {
  /** model folder (config.json, model.safetensors, optional ood_reference.json) */
  modelDir: string;
  /** default significance level of the OoD verdict (requests may override it) */
  alpha?: number;
  /** largest upload, bytes */
  maxBytes?: number;
  /** most images in one forward pass */
  maxBatch?: number;
  /** most requests waiting before new ones get 503 */
  maxQueue?: number;
  /** how long a batch waits for more requests, ms */
  batchWaitMs?: number;
  /** integrated-gradient steps of a heatmap (models without a DCT latent) */
  heatmapSteps?: number;
  /** a built explorer (web/dist) to serve at / */
  explorerDir?: string;
  logger?: boolean;
  /** largest image (width·height), checked on its header before decoding; default sized to the model */
  maxPixels?: number;
  /** images decoded at once, and uploads waiting for a decoder before new ones get 503 */
  decodeConcurrency?: number;
  decodeQueue?: number;
  /** time limits, minimum upload rate and connection caps (guards.ts) */
  limits?: Partial<ServeLimits>;
  /** bearer token the API and the model files require (healthz and the explorer page stay open) */
  token?: string;
  /** origins allowed to call the API from a browser (CORS); none by default */
  corsOrigins?: string[];
  /** requests per minute and client address (429 beyond); off by default */
  rateLimitPerMinute?: number;
}

interface PredictQuery {
  alpha?: number;
  top?: number;
  convert?: boolean;
  explain?: boolean;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/tiff', 'image/bmp', 'application/octet-stream'];

function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

const queryProperties = {
  alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, description: 'significance level of the two-tailed OoD test behind the verdict' },
  top: { type: 'integer', minimum: 1, maximum: 1000, description: 'how many classes to list (default 5)' },
  convert: { type: 'boolean', description: 'convert colour images to greyscale (or grey to RGB) instead of rejecting them' },
} as const;

const uploadDoc = 'The image as the raw request body (Content-Type image/png, image/jpeg, image/webp, image/gif, image/tiff, image/bmp or application/octet-stream), or as the file field of a multipart/form-data upload.';

export async function buildServer(opts: ServeOptions): Promise<FastifyInstance> {
  const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
  const defaultAlpha = opts.alpha ?? 0.01;
  const limits: ServeLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const model = loadModel(opts.modelDir);
  const maxPixels = opts.maxPixels ?? defaultMaxPixels(model.config);
  const decoding = new WorkPool(opts.decodeConcurrency ?? Math.max(1, os.availableParallelism()), opts.decodeQueue ?? 64);
  let reference: OodReference | null;
  try {
    reference = model instanceof GenerativeClassifier ? loadReference(opts.modelDir) : null;
  } catch (e) {
    model.dispose();
    throw e;
  }
  const card = modelCard(opts.modelDir, model, reference);
  const { height, width, channels } = model.config.input;
  const started = Date.now();

  const predictions = new Batcher<{ pixels: Float32Array; query: PredictQuery }, ImageAnalysis>(
    (items) => {
      // one forward pass per OoD level asked for (the explanation's OoD case depends on it;
      // usually every client uses the default), all classes listed; then each item's own view
      const results: ImageAnalysis[] = new Array(items.length);
      const levels = new Map<number, number[]>();
      items.forEach((item, k) => {
        const a = item.query.alpha ?? defaultAlpha;
        levels.set(a, [...(levels.get(a) ?? []), k]);
      });
      for (const [alpha, which] of levels) {
        const x = tf.tensor4d(concat(which.map((k) => items[k].pixels)), [which.length, height, width, channels]);
        try {
          const explain = which.some((k) => items[k].query.explain !== false);
          analyzeBatch(model, x, reference, { alpha, topK: model.classes, explain }).forEach((a, j) => (results[which[j]] = view(a, items[which[j]].query)));
        } finally {
          x.dispose();
        }
      }
      return results;
    },
    { maxBatch: opts.maxBatch ?? 32, maxQueue: opts.maxQueue ?? 256, waitMs: opts.batchWaitMs ?? 2 },
  );
  const explanations = new Batcher<{ pixels: Float32Array; query: PredictQuery }, object>(
    async (items) => {
      const { pixels, query } = items[0];
      const gc = model as GenerativeClassifier;
      const x = tf.tensor4d(pixels, [1, height, width, channels]);
      try {
        const analysis = view(analyzeBatch(gc, x, reference, { alpha: query.alpha ?? defaultAlpha, topK: model.classes })[0], query);
        const h = posteriorHeatmaps(gc, x, Math.min(3, gc.classes), opts.heatmapSteps ?? 64);
        const names = model.config.classNames;
        const png = await heatmapPng(pixels, [height, width, channels], h, names, `class evidence (${h.method === 'integrated-gradients' ? 'integrated gradients of log q(y|x)' : 'DCT decomposition, Eqs. 14–21'})`);
        return [
          {
            ...analysis,
            decisionSpace: analysis.explanation?.decision ?? null,
            heatmap: {
              method: h.method,
              size: h.n,
              classes: h.classes.map((c) => ({ class: c, name: names[c] })),
              logPosterior: h.logPosterior,
              maps: h.maps.map((m) => Array.from(m, (v) => Number(v.toPrecision(5)))),
              ...(h.completenessError ? { completenessError: h.completenessError } : {}),
              png: `data:image/png;base64,${png.toString('base64')}`,
            },
          },
        ];
      } finally {
        x.dispose();
      }
    },
    { maxBatch: 1, maxQueue: 16, waitMs: 0 },
  );

  /** What one client asked for of an analysis made for the whole batch. */
  function view(a: ImageAnalysis, q: PredictQuery): ImageAnalysis {
    return { ...a, top: a.top.slice(0, q.top ?? 5), explanation: q.explain === false ? null : a.explanation };
  }

  // unknown query parameters are errors, not silently dropped
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: maxBytes,
    ajv: { customOptions: { removeAdditional: false } },
    // every phase of a request is time-limited (guards.ts): headers, the whole request, idle sockets
    http: httpServerOptions(limits),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    // on close, idle keep-alive connections go at once; busy ones finish their request
    forceCloseConnections: 'idle',
  });
  const connections = installConnectionGuards(app, limits);
  if (opts.token) installBearerAuth(app, opts.token);
  if (opts.corsOrigins?.length) await app.register(cors, { origin: opts.corsOrigins, methods: ['GET', 'POST'] });
  if (opts.rateLimitPerMinute) {
    await app.register(rateLimit, {
      max: opts.rateLimitPerMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: { code: 'RATE_LIMITED', message: `more than ${ctx.max} requests a minute from this address; retry in ${Math.ceil(ctx.ttl / 1000)} s` } }),
    });
  }
  await app.register(swagger, {
    openapi: {
      info: { title: 'trustgc', version: '1', description: 'A generative classifier that says what an image is, how sure it is, and whether it has seen anything like it.' },
    },
  });
  // only images and multipart: JSON or text bodies get 415 rather than reaching the handlers
  app.removeAllContentTypeParsers();
  await app.register(multipart, { limits: { fileSize: maxBytes, files: 1, fields: 8, parts: 10 } });
  app.addContentTypeParser(IMAGE_TYPES, { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    if (err instanceof UploadError) return reply.status(err.statusCode).send(errorBody(err.code, err.message));
    if (err instanceof QueueFullError) return reply.status(503).header('retry-after', '1').send(errorBody('BUSY', err.message));
    if (err.statusCode === 429) return reply.status(429).send({ error: (err as unknown as { error: unknown }).error });
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message =
        err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `${err.message}; send an image (${IMAGE_TYPES.join(', ')}) or multipart/form-data`
        : err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.code === 'FST_REQ_FILE_TOO_LARGE' ? `the upload is larger than the ${maxBytes} bytes this server accepts`
        : err.message;
      return reply.status(status).send(errorBody(err.code ?? 'BAD_REQUEST', message));
    }
    req.log.error(err);
    return reply.status(500).send(errorBody('INTERNAL', `the server failed on this request: ${err.message}`));
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url}`)));

  async function uploadedPixels(req: FastifyRequest, q: PredictQuery): Promise<Float32Array> {
    let bytes: Buffer;
    if (req.isMultipart()) {
      try {
        const part = await req.file();
        if (!part) throw new UploadError(400, 'NO_FILE', 'the multipart upload has no file field');
        bytes = await part.toBuffer();
      } catch (e) {
        // the multipart parser's own errors (cut-off body, bad part headers) carry no status
        if (e instanceof UploadError || (e as { statusCode?: number }).statusCode) throw e;
        throw new UploadError(400, 'BAD_MULTIPART', `the multipart body is malformed: ${(e as Error).message}`);
      }
    } else if (Buffer.isBuffer(req.body)) {
      bytes = req.body;
    } else {
      throw new UploadError(400, 'EMPTY_BODY', `send the image as the request body (${IMAGE_TYPES.join(', ')}) or as a multipart file`);
    }
    return decodeUpload(bytes, model.config, { convertChannels: q.convert, maxPixels, pool: decoding });
  }

  app.get('/healthz', { schema: { description: 'liveness, the queue and tensor counts', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => ({
    status: 'ok',
    model: card.name,
    uptimeSeconds: (Date.now() - started) / 1000,
    queue: { pending: predictions.pending, ...predictions.stats },
    decoding: { active: decoding.active, pending: decoding.pending, rejected: decoding.rejected },
    connections: connections.open(),
    tensors: tf.memory().numTensors,
    rssMB: Math.round(process.memoryUsage().rss / 1e6),
  }));

  app.get('/v1/model', { schema: { description: 'the model card: data, architecture, parameters, training, measured figures, OoD reference', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => card);

  app.post('/v1/predict', {
    schema: {
      description: `Classify one image: top-k posteriors, log p(x), bits/dim, OoD p-values (one-tailed, two-tailed, typicality) with a verdict, and a Fig. 1-style explanation. ${uploadDoc}`,
      consumes: ['multipart/form-data', ...IMAGE_TYPES],
      querystring: { type: 'object', properties: { ...queryProperties, explain: { type: 'boolean', description: 'include the decision-space explanation (default true)' } }, additionalProperties: false },
      response: { 200: { type: 'object', additionalProperties: true } },
    },
  }, async (req: FastifyRequest<{ Querystring: PredictQuery }>) => {
    const q = req.query;
    const pixels = await uploadedPixels(req, q);
    return predictions.submit({ pixels, query: q });
  });

  app.post('/v1/explain', {
    schema: {
      description: `Explain one image: the prediction, the decision space around it (five nearest class means, their 90 % regions, the image's position) and per-class evidence heatmaps (JSON maps and a PNG). Generative classifiers only. ${uploadDoc}`,
      consumes: ['multipart/form-data', ...IMAGE_TYPES],
      querystring: { type: 'object', properties: queryProperties, additionalProperties: false },
      response: { 200: { type: 'object', additionalProperties: true } },
    },
  }, async (req: FastifyRequest<{ Querystring: PredictQuery }>, reply: FastifyReply) => {
    if (!(model instanceof GenerativeClassifier)) return reply.status(422).send(errorBody('NOT_GENERATIVE', 'explanations need a generative classifier; this model is a discriminative baseline'));
    const pixels = await uploadedPixels(req, req.query);
    return explanations.submit({ pixels, query: req.query });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // the model's own files, for the browser explorer (which runs the model client-side)
  for (const file of [CONFIG_FILE, MODEL_FILE, OOD_REFERENCE_FILE]) {
    app.get(`/model/${file}`, { schema: { hide: true } }, async (_req, reply) => {
      const path = join(opts.modelDir, file);
      if (!existsSync(path)) return reply.status(404).send(errorBody('NOT_FOUND', `the model has no ${file}`));
      return reply.type(file.endsWith('.json') ? 'application/json' : 'application/octet-stream').send(readFileSync(path));
    });
  }
  if (opts.explorerDir) await app.register(fastifyStatic, { root: opts.explorerDir, prefix: '/' });

  app.addHook('onClose', async () => model.dispose());
  return app;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
