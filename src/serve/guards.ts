/**
 * What keeps `serve` standing when clients are hostile: time limits on every phase of a request,
 * a minimum upload rate, a cap on open connections, bearer-token authentication, and the rule that
 * a server reachable from other machines needs a token. Each limit has a safe default and a flag.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { InputError } from '../util/errors.js';

export interface ServeLimits {
  /** time to receive a request's headers, ms (slowloris) → 408 */
  headersTimeoutMs: number;
  /** time to receive a whole request, headers and body, ms → 408 */
  requestTimeoutMs: number;
  /** how long an idle keep-alive connection stays open, ms */
  keepAliveTimeoutMs: number;
  /** a socket with no traffic at all for this long is closed, ms (idle sockets) */
  idleTimeoutMs: number;
  /** an upload slower than this (bytes/s, averaged) after the grace period is cut off → 408 */
  minBodyBytesPerSecond: number;
  /** grace period before the body rate is enforced, ms */
  bodyRateGraceMs: number;
  /** open connections; beyond this, requests get 503 and their connections close */
  maxConnections: number;
  /** open connections from one client address; beyond this, new ones get 503 and are closed at once */
  maxConnectionsPerClient: number;
}

export const DEFAULT_LIMITS: ServeLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 15_000,
  minBodyBytesPerSecond: 16 * 1024,
  bodyRateGraceMs: 3_000,
  maxConnections: 4096,
  maxConnectionsPerClient: 128,
};

/** Node's http server options for the limits (checked every second, not every 30 s as by default). */
export function httpServerOptions(limits: ServeLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: 1000,
  };
}

const OVER_CAP = Symbol('over the connection cap');
type MarkedSocket = Socket & { [OVER_CAP]?: boolean };

function errorJson(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** An answer written straight to a socket whose request the framework is still reading. */
function rawAnswer(socket: Socket, status: string, code: string, message: string): void {
  const body = errorJson(code, message);
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  socket.destroySoon?.();
}

/** Counts open connections and enforces the connection caps and the minimum upload rate. */
export function installConnectionGuards(app: FastifyInstance, limits: ServeLimits): { open: () => number } {
  let open = 0;
  const perClient = new Map<string, number>();
  const server = app.server;
  // past the cap plus some headroom, accepted sockets are closed by Node at once
  server.maxConnections = limits.maxConnections + 64;
  server.prependListener('connection', (socket: MarkedSocket) => {
    open++;
    const client = socket.remoteAddress ?? '';
    const mine = (perClient.get(client) ?? 0) + 1;
    perClient.set(client, mine);
    socket.once('close', () => {
      open--;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    if (mine > limits.maxConnectionsPerClient) {
      // one address holding this many sockets is flooding: answer and close before it sends anything
      rawAnswer(socket, '503 Service Unavailable', 'TOO_MANY_CONNECTIONS', `${limits.maxConnectionsPerClient} connections from your address are open already; close some and retry`);
      return;
    }
    if (open > limits.maxConnections) socket[OVER_CAP] = true;
  });
  app.addHook('onRequest', async (req, reply) => {
    const socket = req.raw.socket as MarkedSocket;
    if (socket[OVER_CAP]) {
      reply.header('connection', 'close').header('retry-after', '1');
      return reply.status(503).send({ error: { code: 'TOO_MANY_CONNECTIONS', message: `the server has ${limits.maxConnections} connections open; retry shortly` } });
    }
    watchBodyRate(req.raw, socket, limits);
  });
  return { open: () => open };
}

/** Cuts off an upload that arrives slower than the minimum rate once the grace period is over. */
function watchBodyRate(raw: import('node:http').IncomingMessage, socket: Socket, limits: ServeLimits): void {
  const declared = Number(raw.headers['content-length'] ?? 0);
  const hasBody = declared > 0 || raw.headers['transfer-encoding'] !== undefined;
  if (!hasBody || raw.complete || limits.minBodyBytesPerSecond <= 0) return;
  const started = Date.now();
  const bytesAtStart = socket.bytesRead;
  const timer = setInterval(() => {
    if (raw.complete || socket.destroyed) return clearInterval(timer);
    const elapsed = Date.now() - started;
    if (elapsed < limits.bodyRateGraceMs) return;
    const rate = ((socket.bytesRead - bytesAtStart) * 1000) / elapsed;
    if (rate < limits.minBodyBytesPerSecond) {
      clearInterval(timer);
      rawAnswer(socket, '408 Request Timeout', 'BODY_TOO_SLOW', `the upload arrived at ${Math.round(rate)} bytes/s, below the ${limits.minBodyBytesPerSecond} this server waits for`);
    }
  }, 250);
  timer.unref();
  raw.once('end', () => clearInterval(timer));
  raw.once('close', () => clearInterval(timer));
}

/** Digests compared in constant time: neither the content nor the length of the token leaks. */
function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Paths open without a token: liveness and the explorer's static page (the page then sends the token). */
function isPublic(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/healthz' || !(path.startsWith('/v1/') || path.startsWith('/model/') || path === '/openapi.json');
}

/** Requires `Authorization: Bearer <token>` on the API and the model files. */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req.url)) return;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : '';
    if (given && sameToken(given, token)) return;
    reply.header('www-authenticate', 'Bearer realm="trustgc"');
    return reply.status(401).send({ error: { code: 'UNAUTHORIZED', message: given ? 'the bearer token is wrong' : 'send Authorization: Bearer <token>' } });
  });
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

/** A server other machines can reach must check a token, unless the user says otherwise in so many words. */
export function checkExposure(host: string, token: string | undefined, insecureNoAuth: boolean): void {
  if (isLoopback(host) || token || insecureNoAuth) return;
  throw new InputError(
    `--host ${host} accepts connections from other machines: give a bearer token (--token, or TRUSTGC_TOKEN) that clients send as "Authorization: Bearer …", or --insecure-no-auth to serve without one`,
  );
}
