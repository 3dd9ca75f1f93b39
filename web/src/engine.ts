/**
 * The model in the page: tfjs on its wasm backend (cpu if wasm cannot start), built from the
 * model folder the server exposes under /model/, running the same library code as the CLI and
 * the API (analyzeBatch, posteriorHeatmaps, class similarity). Or, in "server" mode, the same
 * answers fetched from /v1/predict and /v1/explain.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// the model code uses chained tensor methods (x.reshape(…)), which tfjs-core alone does not install
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { registerWasmKernels } from '../../src/engine/wasm_kernels.js';
import { GenerativeClassifier } from '../../src/gc/model.js';
import type { Classifier } from '../../src/gc/classifier.js';
import type { ModelConfig } from '../../src/gc/presets.js';
import { modelFromBytes, parseConfig } from '../../src/io/model_weights.js';
import { parseReference } from '../../src/eval/ood_pvalues.js';
import type { OodReference } from '../../src/eval/ood_pvalues.js';
import { analyzeBatch } from '../../src/explain/analyze.js';
import type { ImageAnalysis } from '../../src/explain/analyze.js';
import { posteriorHeatmaps } from '../../src/explain/attribution.js';
import type { PosteriorHeatmaps } from '../../src/explain/attribution.js';
import { meanGram } from '../../src/explain/explain.js';
import { classSimilarity } from '../../src/explain/class_similarity.js';
import type { ClassSimilarity } from '../../src/explain/class_similarity.js';

export type { ImageAnalysis, PosteriorHeatmaps, ClassSimilarity, ModelConfig, OodReference };

export interface Heatmaps {
  method: PosteriorHeatmaps['method'];
  size: number;
  classes: number[];
  logPosterior: number[];
  maps: ArrayLike<number>[];
}

export interface LoadedModel {
  config: ModelConfig;
  kind: 'gc' | 'dc';
  parameters: number;
  reference: OodReference | null;
  similarity: ClassSimilarity | null;
  backend: string;
  analyze(pixels: Float32Array): Promise<ImageAnalysis>;
  heatmaps(pixels: Float32Array): Promise<Heatmaps | null>;
}

/**
 * A server started with --token wants it on the API and model files; the page takes it from its
 * address (`…/#token=…`, which never reaches the server's logs) and sends it as a bearer token.
 */
function authHeaders(): Record<string, string> {
  const token = new URLSearchParams(globalThis.location?.hash?.slice(1) ?? '').get('token');
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

let backendReady: Promise<string> | null = null;

function startBackend(): Promise<string> {
  backendReady ??= (async () => {
    setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });
    registerWasmKernels();
    let ok = false;
    try {
      ok = await tf.setBackend('wasm');
    } catch {
      ok = false;
    }
    if (!ok) await tf.setBackend('cpu');
    await tf.ready();
    tf.env().set('PROD', true);
    return tf.getBackend();
  })();
  return backendReady;
}

/** Loads the model from `${base}/model/…`; `mode` says where predictions are computed. */
export async function loadModel(base: string, mode: 'browser' | 'server'): Promise<LoadedModel> {
  const backend = await startBackend();
  const configText = await (await fetchOk(`${base}/model/config.json`)).text();
  const config = parseConfig(configText, 'config.json');
  const weights = new Uint8Array(await (await fetchOk(`${base}/model/model.safetensors`)).arrayBuffer());
  const model: Classifier = modelFromBytes(config, weights, 'model.safetensors');
  const refResponse = await fetch(`${base}/model/ood_reference.json`, { headers: authHeaders() });
  const reference = refResponse.ok ? parseReference(await refResponse.text(), 'ood_reference.json') : null;
  const gc = model instanceof GenerativeClassifier ? model : null;
  const similarity = gc ? classSimilarity(meanGram(gc), config.classNames) : null;
  const { height, width, channels } = config.input;
  const input = (pixels: Float32Array) => tf.tensor4d(pixels, [1, height, width, channels]);

  const post = async (path: string, pixels: Float32Array) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'image/png', ...authHeaders() }, body: await pngOf(pixels, width, height, channels) });
    const body = await r.json();
    if (!r.ok) throw new Error(body?.error?.message ?? `HTTP ${r.status}`);
    return body;
  };

  return {
    config,
    kind: gc ? 'gc' : 'dc',
    parameters: model.countParams().total,
    reference,
    similarity,
    backend: mode === 'server' ? 'server API' : `tfjs ${backend}`,
    async analyze(pixels) {
      if (mode === 'server') return (await post('/v1/predict?top=10', pixels)) as ImageAnalysis;
      const x = input(pixels);
      try {
        return analyzeBatch(model, x, reference, { topK: 10 })[0];
      } finally {
        x.dispose();
      }
    },
    async heatmaps(pixels) {
      if (!gc) return null;
      if (mode === 'server') {
        const e = await post('/v1/explain', pixels);
        return { method: e.heatmap.method, size: e.heatmap.size, classes: e.heatmap.classes.map((c: { class: number }) => c.class), logPosterior: e.heatmap.logPosterior, maps: e.heatmap.maps };
      }
      const x = input(pixels);
      try {
        const h = posteriorHeatmaps(gc, x, 3, 32);
        return { method: h.method, size: h.n, classes: h.classes, logPosterior: h.logPosterior, maps: h.maps };
      } finally {
        x.dispose();
      }
    },
  };
}

/** The model's input as a PNG (what server mode uploads). */
async function pngOf(pixels: Float32Array, width: number, height: number, channels: number): Promise<Blob> {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = Math.round(255 * pixels[i * channels + (channels === 1 ? 0 : k)]);
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode PNG'))), 'image/png'));
}
