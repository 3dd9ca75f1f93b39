/**
 * The server against hostile clients, on loopback with short limits: slow headers, idle sockets and
 * slow bodies are cut off with 408 within their timeouts; connection caps answer 503; an image whose
 * header declares too many pixels is refused with 413 before it is decoded; tokens, CORS and the
 * rate limit; and a SIGTERM lets the request in flight finish before the process exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { useBackend } from './helpers.js';
import { buildServer } from '../src/serve/server.js';
import type { ServeOptions } from '../src/serve/server.js';
import { checkExposure, isLoopback } from '../src/serve/guards.js';
import { WorkPool } from '../src/serve/work_pool.js';
import { QueueFullError } from '../src/serve/batcher.js';
import { defaultMaxPixels } from '../src/serve/upload.js';
import { InputError } from '../src/util/errors.js';
import { projectRoot } from '../src/util/paths.js';
import { loadMnist } from '../src/data/mnist.js';
import { bombPng } from '../bench/hostile_images.js';

const MODEL = join(projectRoot(), 'zoo', 'mnist-gc-beta1');
let digit: Buffer;

beforeAll(async () => {
  await useBackend('wasm');
  const mnist = loadMnist('test');
  digit = await sharp(Buffer.from(mnist.pixels.subarray(0, 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
});

const servers: FastifyInstance[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function serve(opts: Partial<ServeOptions> = {}): Promise<{ app: FastifyInstance; port: number }> {
  const app = await buildServer({ modelDir: MODEL, ...opts });
  servers.push(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return { app, port: typeof address === 'object' && address ? address.port : 0 };
}

/** A raw socket from a chosen loopback address; resolves what the server sent and when it closed. */
function rawClient(port: number, localAddress = '127.0.0.1') {
  const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
  const opened = Date.now();
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<{ ms: number; received: string }>((resolve) => socket.on('close', () => resolve({ ms: Date.now() - opened, received })));
  const ready = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed, ready };
}

describe('time limits', () => {
  it('slow headers (slowloris) get 408 and the socket closes within the headers timeout', async () => {
    const { port } = await serve({ limits: { headersTimeoutMs: 500, idleTimeoutMs: 5000 } });
    const c = rawClient(port);
    await c.ready;
    c.socket.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => c.socket.writable && c.socket.write('X'), 100);
    const { ms, received } = await c.closed;
    clearInterval(trickle);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(500 + 1000 + 1000); // the timeout, Node's 1 s check interval, slack
  });

  it('an idle socket is closed within the idle timeout', async () => {
    const { port } = await serve({ limits: { headersTimeoutMs: 5000, idleTimeoutMs: 600 } });
    const c = rawClient(port);
    await c.ready;
    const { ms } = await c.closed;
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(ms).toBeLessThan(600 + 1500);
  });

  it('a body slower than the minimum rate is cut off with 408 after the grace period', async () => {
    const { port } = await serve({ limits: { minBodyBytesPerSecond: 2000, bodyRateGraceMs: 500, requestTimeoutMs: 20_000 } });
    const c = rawClient(port);
    await c.ready;
    c.socket.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n');
    const drip = setInterval(() => c.socket.writable && c.socket.write(Buffer.alloc(20)), 100); // 200 bytes/s
    const { ms, received } = await c.closed;
    clearInterval(drip);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
    expect(received).toContain('BODY_TOO_SLOW');
    expect(ms).toBeLessThan(500 + 250 + 1500);
  });
});

describe('connection caps', () => {
  it('one address beyond its cap gets 503 at once; others are still served', async () => {
    const { port } = await serve({ limits: { maxConnectionsPerClient: 3 } });
    const held = [1, 2, 3].map(() => rawClient(port, '127.0.0.5'));
    await Promise.all(held.map((h) => h.ready));
    const extra = rawClient(port, '127.0.0.5');
    const { received, ms } = await extra.closed;
    expect(received).toMatch(/^HTTP\/1\.1 503/);
    expect(received).toContain('TOO_MANY_CONNECTIONS');
    expect(ms).toBeLessThan(1000);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(ok.status).toBe(200);
    for (const h of held) h.socket.destroy();
  });

  it('beyond the server-wide cap, requests get 503 with Retry-After', async () => {
    const { port } = await serve({ limits: { maxConnections: 2 } });
    const held = ['127.0.0.6', '127.0.0.7'].map((a) => rawClient(port, a));
    await Promise.all(held.map((h) => h.ready));
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_CONNECTIONS');
    for (const h of held) h.socket.destroy();
  });
});

describe('image size limits', () => {
  it('the default pixel limit is sized to the model: 1 MP for 28×28, 16 MP at most', () => {
    expect(defaultMaxPixels({ input: { height: 28, width: 28, channels: 1 } } as never)).toBe(2 ** 20);
    expect(defaultMaxPixels({ input: { height: 224, width: 224, channels: 3 } } as never)).toBe(2 ** 24);
  });

  it('a tiny file declaring a huge canvas (bomb) and an image over the limit get 413 before decoding', async () => {
    const { app } = await serve();
    const bomb = bombPng(40_000, 40_000);
    expect(bomb.length).toBeLessThan(200);
    const t0 = Date.now();
    const r = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/png' }, payload: bomb });
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe('TOO_MANY_PIXELS');
    expect(r.json().error.message).toContain(String(2 ** 20));
    expect(Date.now() - t0).toBeLessThan(1000);
    const big = await sharp({ create: { width: 1100, height: 1000, channels: 3, background: '#000' } }).png().toBuffer();
    expect((await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/png' }, payload: big })).statusCode).toBe(413);
    // nothing reached a decoder
    expect((await app.inject('/healthz')).json().decoding).toEqual({ active: 0, pending: 0, rejected: 0 });
    const ok = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/png' }, payload: digit });
    expect(ok.statusCode).toBe(200);
  });

  it('the decoding pool runs a bounded number of jobs and refuses beyond its queue', async () => {
    const pool = new WorkPool(1, 1);
    let release!: () => void;
    const first = pool.run(() => new Promise<number>((r) => (release = () => r(1))));
    const second = pool.run(async () => 2); // waits for the slot
    await expect(pool.run(async () => 3)).rejects.toBeInstanceOf(QueueFullError);
    expect([pool.active, pool.pending, pool.rejected]).toEqual([1, 1, 1]);
    release();
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect([pool.active, pool.pending]).toEqual([0, 0]);
  });
});

describe('access', () => {
  it('a non-loopback address needs a token or --insecure-no-auth', () => {
    expect(isLoopback('127.0.0.1') && isLoopback('localhost') && isLoopback('::1') && isLoopback('[::1]')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('192.168.1.4') || isLoopback('::')).toBe(false);
    expect(() => checkExposure('0.0.0.0', undefined, false)).toThrow(InputError);
    expect(() => checkExposure('0.0.0.0', undefined, false)).toThrow(/--token/);
    expect(() => checkExposure('0.0.0.0', 'secret', false)).not.toThrow();
    expect(() => checkExposure('0.0.0.0', undefined, true)).not.toThrow();
    expect(() => checkExposure('127.0.0.1', undefined, false)).not.toThrow();
  });

  it('with a token, the API and model files need it; healthz does not', async () => {
    const { app } = await serve({ token: 's3cret-token' });
    const post = (auth?: string) =>
      app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/png', ...(auth ? { authorization: auth } : {}) }, payload: digit });
    const none = await post();
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await post('Bearer wrong')).statusCode).toBe(401);
    expect((await post('Bearer s3cret-token-and-more')).statusCode).toBe(401);
    expect((await post('Bearer s3cret-token')).statusCode).toBe(200);
    expect((await app.inject('/model/model.safetensors')).statusCode).toBe(401);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });

  it('CORS is off unless origins are listed, and then only for them', async () => {
    const { app: closed } = await serve();
    expect((await closed.inject({ url: '/healthz', headers: { origin: 'http://a.example' } })).headers['access-control-allow-origin']).toBeUndefined();
    const { app: open } = await serve({ corsOrigins: ['http://a.example'] });
    expect((await open.inject({ url: '/healthz', headers: { origin: 'http://a.example' } })).headers['access-control-allow-origin']).toBe('http://a.example');
    expect((await open.inject({ url: '/healthz', headers: { origin: 'http://b.example' } })).headers['access-control-allow-origin']).toBeUndefined();
  });

  it('the per-client rate limit answers 429 with Retry-After', async () => {
    const { app } = await serve({ rateLimitPerMinute: 3 });
    const codes: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await app.inject('/healthz');
      codes.push(last.statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.json().error.code).toBe('RATE_LIMITED');
  });
});

describe('shutdown', () => {
  it('SIGTERM: the request in flight is answered, new connections are refused, the process exits 0', async () => {
    const child = spawn(process.execPath, [join(projectRoot(), 'bin', 'trustgc.js'), '--threads', '1', 'serve', '--model', MODEL, '--port', '0', '--heatmap-steps', '128', '--shutdown-timeout', '30s'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d) => {
        stderr += d;
        const m = /serving .* at (http:\/\/[\d.:]+)/.exec(stderr);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
    });
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));
    let answeredAt = 0;
    const inFlight = fetch(`${url}/v1/explain`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(digit) }).then((r) => {
      answeredAt = Date.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 300)); // the explanation is running now
    const signalled = Date.now();
    child.kill('SIGTERM');
    const answer = await inFlight;
    expect(answeredAt).toBeGreaterThan(signalled); // it was still in flight when the signal came
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { heatmap?: unknown }).heatmap).toBeDefined();
    const { code, at } = await exited;
    expect(at).toBeGreaterThanOrEqual(answeredAt - 50); // the process outlived the request it was serving
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(30_000); // finished, not cut off at the deadline
    expect(stderr).toMatch(/SIGTERM: not accepting new connections/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
