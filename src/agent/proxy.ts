/**
 * The local agent's reverse proxy. Every route (service, environment) has a public listener
 * and optionally a preview listener; each request picks a version by smooth weighted
 * round-robin over the route's weights, then a ready instance of it round-robin, and is
 * forwarded over a pooled keep-alive connection.
 *
 * Why raw sockets and not `node:http`: on the build machine a `node:http` proxy reaches about
 * a fifth of a direct connection's throughput, while forwarding head bytes as received and
 * reading only the framing headers (src/agent/http1.ts) keeps up with nginx. Bodies stream
 * through without buffering, in both directions, with backpressure.
 *
 * Canary routing (header routes, sticky sessions) is compiled per route into a
 * {@link RouteExtras}; a route without it pays one null check per request and per response
 * head. Only the header names it needs are looked for, and its `Set-Cookie` line is spliced in
 * before the final CRLF of the response head, which is otherwise forwarded as received.
 *
 * Every forwarded request head gets `X-Forwarded-For`, `-Proto` and `-Host` (src/agent/forwarded.ts)
 * unless `forwardedHeaders` is off: the framing scan records where `Host` and any incoming
 * `X-Forwarded-*` lines are, and the head is rebuilt in one buffer with them replaced (or, from a
 * trusted peer, kept and extended).
 *
 * Lossless switches rest on two rules: a route swap is one reference assignment (requests
 * already forwarded finish where they started), and a request whose upstream connection fails
 * before any response byte arrived is replayed once on a fresh connection, which covers
 * upstream servers closing idle keep-alive connections at any time.
 *
 * An instance that accepts a request and never answers it is caught by the response timeout:
 * from the moment the whole request was forwarded until the response head arrives (a body that
 * streams slowly after its head is never cut). The sweep that closes idle connections checks it,
 * so a request costs no timer of its own; it fires up to one sweep (250 ms) late. The request is
 * answered 504 and not replayed (the instance may have acted on it), and the instance is handed
 * to the backend source's `markFailing`, the supervisor's own "unhealthy" state: it leaves the
 * ready list at once, and its health checks bring it back, as for any failing instance.
 */
import net from 'node:net';
import { GangwayError, PortInUseError } from '../errors.js';
import { CanaryGuard } from './canary-guard.js';
import { ForwardedWriter, TrustList } from './forwarded.js';
import { HeldSockets, listenHeld, tcpKey } from './held-sockets.js';
import { ChunkedScanner, cookieValue, findHeadEnd, ForwardedSpans, HeaderCapture, HeadError, MAX_HEAD_BYTES, parseRequestHead, parseResponseHead } from './http1.js';
import type { Backend, BackendSource, CanaryGuardSpec, CanaryGuardStatus, ProxyHubApi, RequestMetricsApi, RouteSpec } from './types.js';

/** Tunables of {@link ProxyHub}; the defaults suit the agent. */
export interface ProxyHubOptions {
  backends: BackendSource;
  metrics: RequestMetricsApi;
  logger?: { warn(obj: object, msg: string): void };
  /** Idle pooled upstream connections are closed after this long; below Node's default 5 s keepAliveTimeout. Default 2000. */
  upstreamIdleMs?: number;
  /** Idle client keep-alive connections (and clients stuck sending a head) are closed after this long. Default 60000. */
  clientIdleMs?: number;
  /** A connection attempt to an instance that takes longer fails (then retried once). Default 5000. */
  connectTimeoutMs?: number;
  /** Response timeout of routes that set none (`RouteSpec.responseTimeoutMs`). Default 30000. */
  responseTimeoutMs?: number;
  /** Add `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` to every forwarded request. Default true. */
  forwardedHeaders?: boolean;
  /**
   * Peers (IP addresses or CIDR ranges, IPv4 or IPv6) whose own `X-Forwarded-*` headers are kept,
   * the peer's address appended to `X-Forwarded-For`; from any other peer they are replaced.
   * Default none. The constructor throws an `invalid_argument` GangwayError naming a bad entry.
   */
  trustForwarded?: readonly string[];
  /** Listening sockets a keeper holds through restarts of the agent's worker (held-sockets.ts). Default none. */
  held?: HeldSockets;
}

const UPSTREAM_HOST = '127.0.0.1';
/** Request bytes kept for a replay; a longer body streams on without the retry safety net. */
const REPLAY_LIMIT = 256 * 1024;
/** Pipelined bytes buffered behind the request in flight before reading from the client pauses. */
const PIPELINE_LIMIT = 256 * 1024;
const SWEEP_MS = 250;
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

const REASONS: Record<number, string> = {
  400: 'Bad Request', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** Status recorded when the client went away before its response ended (nginx's convention). */
const CLIENT_CLOSED = 499;

/** Response body framing. */
const RES_NONE = 0, RES_LENGTH = 1, RES_CHUNKED = 2, RES_CLOSE = 3;
/** Request body framing. */
const REQ_NONE = 0, REQ_LENGTH = 1, REQ_CHUNKED = 2;

/** Version names become cookie values as URI components: every character they leave is a cookie-octet (RFC 6265 4.1.1). */
function cookieText(version: string): string {
  return encodeURIComponent(version);
}

/**
 * What a route's header routes and sticky sessions need per request, precomputed when the
 * route is set: which headers to capture, and the `Set-Cookie` line of each version.
 */
class RouteExtras {
  readonly capture: HeaderCapture;
  /** Per header route: its slot in `capture.values`. */
  readonly headerSlots: number[];
  readonly headerValues: string[];
  readonly headerVersions: string[];
  /** Slot of `cookie` in `capture.values`, or -1 without stickiness. */
  readonly cookieSlot: number;
  readonly cookieName: string;
  readonly maxAge: number;
  /** Per version of the route: its cookie value and its whole `Set-Cookie` header line. */
  readonly cookieValues: string[];
  readonly cookieLines: Buffer[];

  constructor(spec: RouteSpec, versions: readonly string[]) {
    const headerRoutes = spec.headerRoutes ?? [];
    const sticky = spec.sticky ?? null;
    const names = headerRoutes.map((h) => h.name);
    if (sticky !== null) names.push('cookie');
    this.capture = new HeaderCapture(names);
    this.headerSlots = headerRoutes.map((h) => this.capture.indexOf(h.name));
    this.headerValues = headerRoutes.map((h) => h.value);
    this.headerVersions = headerRoutes.map((h) => h.version);
    this.cookieSlot = sticky === null ? -1 : this.capture.indexOf('cookie');
    this.cookieName = sticky?.cookie ?? '';
    this.maxAge = sticky === null ? 0 : Math.ceil(sticky.ttlMs / 1000);
    this.cookieValues = versions.map(cookieText);
    this.cookieLines = versions.map((v) => this.cookieLine(v));
  }

  /** The `Set-Cookie` header line (with its CRLF) naming `version`. */
  cookieLine(version: string): Buffer {
    return Buffer.from(`Set-Cookie: ${this.cookieName}=${cookieText(version)}; Max-Age=${this.maxAge}; Path=/; HttpOnly; SameSite=Lax\r\n`, 'latin1');
  }

  /** The line to add to a response from `version` when the request carried cookie value `carried` (null: none), or null when it already names that version. */
  lineFor(versions: readonly string[], version: string, carried: string | null): Buffer | null {
    const i = versions.indexOf(version);
    if (i < 0) return carried === cookieText(version) ? null : this.cookieLine(version);
    return carried === this.cookieValues[i] ? null : this.cookieLines[i]!;
  }
}

/** A route with its weighted round-robin state; replaced as a whole by `setRoute`. */
class CompiledRoute {
  readonly versions: string[];
  readonly weights: number[];
  /** Smooth weighted round-robin "current weights" (nginx's algorithm). */
  readonly current: number[];
  /** Round-robin cursor among a version's ready instances. */
  readonly cursor: number[];
  /** Scratch: ready lists fetched while choosing, to avoid a second `ready()` call. */
  readonly lists: Array<readonly Backend[]>;
  /** Header routes and stickiness; null when the route has neither, which keeps the plain path plain. */
  readonly extras: RouteExtras | null;
  previewCursor = 0;
  /** The route's canary guard, fed every recorded request; null without one. */
  guard: CanaryGuard | null = null;

  constructor(readonly spec: RouteSpec) {
    this.versions = spec.versions.map((v) => v.version);
    this.weights = spec.versions.map((v) => v.weight);
    this.current = this.versions.map(() => 0);
    this.cursor = this.versions.map(() => 0);
    this.lists = this.versions.map(() => []);
    const hasHeaderRoutes = spec.headerRoutes !== undefined && spec.headerRoutes.length > 0;
    this.extras = hasHeaderRoutes || (spec.sticky ?? null) !== null ? new RouteExtras(spec, this.versions) : null;
  }

  /**
   * Keeps the round-robin position of the route it replaces when the weights are unchanged:
   * the engine re-applies routes idempotently, and restarting the cycle each time would starve
   * light versions (at 90/10, the 10 % version comes up only at the 6th request of a cycle).
   */
  inherit(old: CompiledRoute): void {
    if (old.versions.length !== this.versions.length) return;
    for (let i = 0; i < this.versions.length; i++) {
      if (old.versions[i] !== this.versions[i] || old.weights[i] !== this.weights[i]) return;
    }
    for (let i = 0; i < this.versions.length; i++) {
      this.current[i] = old.current[i]!;
      this.cursor[i] = old.cursor[i]!;
    }
    this.previewCursor = old.previewCursor;
  }
}

/** Connections to one instance. */
class Pool {
  readonly idle: Upstream[] = [];
  inflight = 0;
  forgotten = false;
  constructor(readonly id: string, public port: number) {}
}

/** One connection to an instance; it serves one client connection at a time. */
class Upstream {
  readonly socket: net.Socket;
  conn: ClientConn | null = null;
  /** Taken from the idle pool, so the server may have closed it in the meantime. */
  reused = false;
  connected = false;
  dead = false;
  idleSince = 0;

  constructor(readonly pool: Pool, connectTimeoutMs: number) {
    const socket = net.connect({
      port: pool.port,
      host: UPSTREAM_HOST,
      noDelay: true,
      // Reading into one shared buffer skips the stream machinery and a 64 KiB allocation per read; the copy is a small pooled slice.
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array): boolean => {
          const chunk = Buffer.allocUnsafe(n);
          chunk.set(buf.subarray(0, n));
          if (this.conn !== null) this.conn.onUpstreamData(this, chunk);
          else this.kill();
          return true;
        },
      },
    });
    this.socket = socket;
    socket.setTimeout(connectTimeoutMs);
    socket.on('connect', () => {
      this.connected = true;
      socket.setTimeout(0);
    });
    socket.on('timeout', () => socket.destroy(new Error('connect timeout')));
    socket.on('drain', () => this.conn?.onUpstreamDrain(this));
    socket.on('end', () => this.gone(null));
    socket.on('error', (err) => this.gone(err));
    socket.on('close', () => this.gone(null));
  }

  private gone(err: Error | null): void {
    if (this.dead && this.conn === null) return;
    this.dead = true;
    const conn = this.conn;
    if (conn !== null) conn.onUpstreamGone(this, err);
    if (!this.socket.destroyed) this.socket.destroy();
  }

  kill(): void {
    this.dead = true;
    this.conn = null;
    this.socket.destroy();
  }
}

/** A listening socket of a route: the public port, or the preview port. */
class Listener {
  readonly conns = new Set<ClientConn>();
  closing = false;
  constructor(readonly server: net.Server, readonly port: number, readonly host: string, readonly entry: RouteEntry, readonly preview: boolean) {}
}

interface RouteEntry {
  compiled: CompiledRoute;
  main: Listener | null;
  previewListener: Listener | null;
}

function localResponse(status: number, text: string, close: boolean): Buffer {
  const body = text + '\n';
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: ${close ? 'close' : 'keep-alive'}\r\n\r\n${body}`,
    'utf8',
  );
}

/** One client connection; it carries one exchange at a time (pipelined requests wait their turn). */
class ClientConn {
  /** Received, not yet forwarded: a partial head, or pipelined requests behind the current one. */
  private buf: Buffer | null = null;
  private scanFrom = 0;
  busy = false;
  private closing = false;
  private clientEnded = false;
  private tunnel = false;
  private pausedForUpstream = false;
  private pausedForPipeline = false;
  idleSince: number;

  // The exchange in progress (reset per request; fields rather than an object keep the hot path allocation-light).
  private route: CompiledRoute | null = null;
  private version = 'none';
  private up: Upstream | null = null;
  private t0 = 0;
  private httpVersion = 11;
  private isHead = false;
  private keepAlive = true;
  private upgradeReq = false;
  private idempotent = true;
  private reqMode = REQ_NONE;
  private reqRemaining = 0;
  private reqDone = true;
  private reqScanner: ChunkedScanner | null = null;
  /** Bytes sent upstream for the current request, kept for a replay; usually just `replayFirst`. */
  private replayFirst: Buffer | null = null;
  private replayMore: Buffer[] | null = null;
  private replayBytes = 0;
  private replayable = true;
  private attempts = 0;
  private resStarted = false;
  private resSent = false;
  private resHeadDone = false;
  private resBuf: Buffer | null = null;
  private resStatus = 0;
  private resMode = RES_NONE;
  private resRemaining = 0;
  private resClose = false;
  private resScanner: ChunkedScanner | null = null;
  /** When the whole request had been forwarded, while no response head has come (performance.now()); 0 otherwise. */
  private waitingSince = 0;
  /** The response gets a sticky cookie naming the version that answers it. */
  private stickyOn = false;
  /** The sticky cookie value the request carried, or null. */
  private stickyCarried: string | null = null;
  /** Adds the forwarding headers to each request head; null when the hub has them off. */
  private readonly fwd: ForwardedWriter | null;
  /** Where `Host` is (and how many lines): the writer's spans, or spans of our own when forwarding headers are off. */
  private readonly spans: ForwardedSpans;

  constructor(private readonly hub: ProxyHub, readonly listener: Listener, readonly socket: net.Socket) {
    this.idleSince = performance.now();
    // The peer is the same for every request of the connection: look it up in the trust list once.
    this.fwd = hub.trust === null ? null : new ForwardedWriter(hub.trust, socket.remoteAddress);
    this.spans = this.fwd === null ? new ForwardedSpans() : this.fwd.spans;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.onEnd());
    socket.on('error', () => { /* 'close' follows and cleans up */ });
    socket.on('close', () => this.onClose());
  }

  // ---- client side -------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.tunnel) {
      const up = this.up;
      if (up !== null && !up.socket.write(chunk)) this.pauseForUpstream();
      return;
    }
    if (this.busy && !this.reqDone) {
      const used = this.forwardBody(chunk, 0);
      if (used < chunk.length) this.appendPending(chunk.subarray(used));
      return;
    }
    this.appendPending(chunk);
    if (!this.busy) this.drainPending();
    else if (this.buf !== null && this.buf.length > PIPELINE_LIMIT && !this.pausedForPipeline) {
      this.pausedForPipeline = true;
      this.socket.pause();
    }
  }

  private appendPending(chunk: Buffer): void {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
  }

  private onDrain(): void {
    const up = this.up;
    if (up !== null && up.socket.isPaused()) up.socket.resume();
  }

  /** The upstream took the bytes it had queued: read from the client again. */
  onUpstreamDrain(up: Upstream): void {
    if (up !== this.up || !this.pausedForUpstream) return;
    this.pausedForUpstream = false;
    if (!this.pausedForPipeline) this.socket.resume();
  }

  private pauseForUpstream(): void {
    this.pausedForUpstream = true;
    this.socket.pause();
  }

  private onEnd(): void {
    this.clientEnded = true;
    if (this.tunnel) {
      // Tunnels get no half-close: upgraded servers rarely end their side, and a peer that is gone must not hold the instance.
      this.up?.socket.end();
      this.close();
      return;
    }
    // A client may half-close after its last request; answer it first.
    if (!this.busy) this.close();
    // But a body cut short by the half-close can never end: without this the exchange would wait for the
    // instance's own timeout (minutes) holding both connections. Node's server and nginx answer 400 too.
    else if (!this.reqDone) this.badBody('request body cut short');
  }

  private onClose(): void {
    this.closing = true;
    this.listener.conns.delete(this);
    if (this.tunnel) {
      const up = this.detach();
      if (up !== null) up.kill();
      this.tunnelDone();
    } else if (this.busy) {
      this.abort(CLIENT_CLOSED);
    }
  }

  /** Ends the connection after pending writes. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.socket.end();
  }

  /** Closes the connection when idle; otherwise after the current response. */
  closeWhenIdle(): void {
    if (!this.busy && !this.tunnel) this.close();
  }

  private drainPending(): void {
    while (!this.busy && !this.closing && this.buf !== null) {
      let buf = this.buf;
      let start = 0;
      // RFC 9112 2.2: ignore empty lines before a request line (some clients add CRLF after a body).
      while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
      if (start > 0) {
        if (start === buf.length) { this.buf = null; return; }
        buf = buf.subarray(start);
        this.buf = buf;
        this.scanFrom = 0;
      }
      const headEnd = findHeadEnd(buf, this.scanFrom);
      if (headEnd < 0) {
        if (buf.length > MAX_HEAD_BYTES) { this.reject(431, 'request head too large'); return; }
        this.scanFrom = Math.max(0, buf.length - 3);
        break;
      }
      this.scanFrom = 0;
      if (headEnd > MAX_HEAD_BYTES) { this.reject(431, 'request head too large'); return; }
      this.startExchange(buf, headEnd);
    }
    if (this.pausedForPipeline && (this.buf === null || this.buf.length <= PIPELINE_LIMIT)) {
      this.pausedForPipeline = false;
      if (!this.pausedForUpstream) this.socket.resume();
    }
  }

  /** Answers a request the proxy cannot parse and closes: the rest of the stream cannot be framed. */
  private reject(status: number, text: string): void {
    this.buf = null;
    this.hub.recordLocal(this.listener.entry.compiled, status, 0);
    this.socket.write(localResponse(status, text, true));
    this.close();
  }

  private startExchange(buf: Buffer, headEnd: number): void {
    const route = this.listener.entry.compiled;
    const extras = this.listener.preview ? null : route.extras;
    const fwd = this.fwd;
    let head;
    try {
      head = parseRequestHead(buf, 0, headEnd, extras === null ? null : extras.capture, this.spans);
    } catch (err) {
      const status = err instanceof HeadError ? err.status : 400;
      this.reject(status, status === 505 ? 'unsupported HTTP version' : 'bad request');
      return;
    }
    // RFC 9112 3.2: an HTTP/1.1 request without Host, or any request with two, is answered 400 (nginx does; Node's
    // server refuses the first). Two could route one way here (X-Forwarded-Host takes the first) and another upstream.
    if (head.version === 11 ? this.spans.hosts !== 1 : this.spans.hosts > 1) {
      this.reject(400, 'bad request');
      return;
    }
    const t0 = performance.now();
    this.busy = true;
    this.hub.active++;
    this.t0 = t0;
    this.httpVersion = head.version;
    this.isHead = head.method === 'HEAD';
    this.keepAlive = head.keepAlive;
    this.upgradeReq = head.upgrade;
    this.idempotent = IDEMPOTENT.has(head.method);
    this.attempts = 0;
    this.replayable = true;
    this.replayBytes = 0;
    this.resStarted = false;
    this.resSent = false;
    this.resHeadDone = false;
    this.resBuf = null;
    this.resStatus = 0;
    this.resClose = false;
    this.waitingSince = 0;
    this.stickyOn = false;
    if (head.chunked) {
      this.reqMode = REQ_CHUNKED;
      if (this.reqScanner === null) this.reqScanner = new ChunkedScanner();
      else this.reqScanner.reset();
      this.reqDone = false;
    } else if (head.contentLength > 0) {
      this.reqMode = REQ_LENGTH;
      this.reqRemaining = head.contentLength;
      this.reqDone = false;
    } else {
      this.reqMode = REQ_NONE;
      this.reqDone = true;
    }

    this.route = route;
    const backend = this.listener.preview ? this.hub.pickPreview(route) : extras === null ? this.hub.pick(route) : this.pickCanary(route, extras);
    if (backend === null) {
      this.version = this.listener.preview ? route.spec.preview?.version ?? 'none' : 'none';
      // Without a backend the body is not read; the connection cannot continue after it.
      const close = !this.reqDone;
      this.buf = headEnd < buf.length ? buf.subarray(headEnd) : null;
      this.finishLocal(503, 'no ready instance', close);
      return;
    }
    this.version = backend.version;
    const up = this.hub.acquire(backend);
    this.attach(up);

    // Forward the head and whatever part of the body arrived with it in one write.
    let end = headEnd;
    if (!this.reqDone && headEnd < buf.length) end = this.bodyEnd(buf, headEnd);
    if (end < 0) return; // malformed chunked body: already answered
    const out = fwd !== null ? fwd.rewrite(buf, headEnd, end) : end === buf.length ? buf : buf.subarray(0, end);
    this.buf = end < buf.length ? buf.subarray(end) : null;
    this.sendUp(out);
  }

  /**
   * The first header route whose header matches, when its version has a ready instance (such a
   * request gets no cookie: it is a test, not a user session); else the version of the sticky
   * cookie while it has weight and a ready instance; else the weights.
   */
  private pickCanary(route: CompiledRoute, extras: RouteExtras): Backend | null {
    const values = extras.capture.values;
    const slots = extras.headerSlots;
    for (let i = 0; i < slots.length; i++) {
      if (values[slots[i]!] !== extras.headerValues[i]) continue;
      const b = this.hub.pickVersion(route, extras.headerVersions[i]!);
      if (b !== null) return b;
      break;
    }
    if (extras.cookieSlot < 0) return this.hub.pick(route);
    const header = values[extras.cookieSlot];
    const carried = header === null ? null : cookieValue(header, extras.cookieName);
    this.stickyOn = true;
    this.stickyCarried = carried;
    if (carried !== null) {
      const i = extras.cookieValues.indexOf(carried);
      if (i >= 0 && route.weights[i]! > 0) {
        const b = this.hub.pickIndex(route, i);
        if (b !== null) return b;
      }
    }
    return this.hub.pick(route);
  }

  /** Index where this request's body ends within `buf` (from `from`); updates framing state. -1 after answering a malformed body. */
  private bodyEnd(buf: Buffer, from: number): number {
    if (this.reqMode === REQ_LENGTH) {
      const avail = buf.length - from;
      if (avail >= this.reqRemaining) {
        const end = from + this.reqRemaining;
        this.reqRemaining = 0;
        this.reqDone = true;
        return end;
      }
      this.reqRemaining -= avail;
      return buf.length;
    }
    let end: number;
    try {
      end = this.reqScanner!.feed(buf, from);
    } catch {
      this.badBody();
      return -1;
    }
    if (end < 0) return buf.length;
    this.reqDone = true;
    return end;
  }

  /** Forwards the part of `chunk` (from `from`) that belongs to the current request body; returns where it stopped. */
  private forwardBody(chunk: Buffer, from: number): number {
    const end = this.bodyEnd(chunk, from);
    if (end < 0) return chunk.length;
    if (this.up !== null) this.sendUp(from === 0 && end === chunk.length ? chunk : chunk.subarray(from, end));
    return end;
  }

  private sendUp(data: Buffer): void {
    if (this.replayable) {
      this.replayBytes += data.length;
      if (this.replayBytes > REPLAY_LIMIT) {
        this.replayable = false;
        this.replayFirst = null;
        this.replayMore = null;
      } else if (this.replayFirst === null) {
        this.replayFirst = data;
      } else if (this.replayMore === null) {
        this.replayMore = [data];
      } else {
        this.replayMore.push(data);
      }
    }
    const up = this.up!;
    if (!up.socket.write(data)) this.pauseForUpstream();
    // The response timeout runs from the last request byte: a slow upload is the client's pace, not the instance's.
    if (this.reqDone && this.waitingSince === 0) this.waitingSince = performance.now();
  }

  private attach(up: Upstream): void {
    up.conn = this;
    this.up = up;
    up.pool.inflight++;
  }

  private detach(): Upstream | null {
    const up = this.up;
    if (up === null) return null;
    this.up = null;
    up.conn = null;
    this.hub.release(up.pool);
    return up;
  }

  // ---- upstream side -----------------------------------------------------------------------

  onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (up !== this.up) { up.kill(); return; }
    this.resStarted = true;
    if (this.tunnel) {
      if (!this.socket.write(chunk)) up.socket.pause();
      return;
    }
    let data = chunk;
    let from = 0;
    let writeFrom = 0;
    if (!this.resHeadDone) {
      if (this.resBuf !== null) { data = Buffer.concat([this.resBuf, chunk]); this.resBuf = null; }
      for (;;) {
        let headEnd = findHeadEnd(data, from);
        if (headEnd < 0) {
          if (data.length - from > MAX_HEAD_BYTES) { this.upstreamBroken(up); return; }
          this.resBuf = from === 0 ? data : data.subarray(from);
          if (from > writeFrom) this.writeClient(data.subarray(writeFrom, from));
          return;
        }
        const head = parseResponseHead(data, from, headEnd);
        if (head === null) { this.upstreamBroken(up); return; }
        if (head.status < 200 && head.status !== 101) {
          // Interim response (100 Continue, 103 Early Hints): forward it to HTTP/1.1 clients, then wait for the final one.
          if (this.httpVersion === 10) {
            if (from > writeFrom) this.writeClient(data.subarray(writeFrom, from));
            writeFrom = headEnd;
          }
          from = headEnd;
          if (from === data.length) {
            if (from > writeFrom) this.writeClient(data.subarray(writeFrom, from));
            return;
          }
          continue;
        }
        this.resStatus = head.status;
        this.resHeadDone = true;
        if (head.status === 101) {
          if (!this.upgradeReq) { this.upstreamBroken(up); return; }
          this.startTunnel(up, writeFrom === 0 ? data : data.subarray(writeFrom));
          return;
        }
        this.resClose = head.close;
        if (this.stickyOn) {
          const line = this.route!.extras!.lineFor(this.route!.versions, this.version, this.stickyCarried);
          if (line !== null) {
            // Before the CRLF that ends the head; bytes already written and the rest pass unchanged.
            data = Buffer.concat([data.subarray(writeFrom, headEnd - 2), line, data.subarray(headEnd - 2)]);
            headEnd += line.length - writeFrom;
            writeFrom = 0;
          }
        }
        if (this.isHead || head.status === 204 || head.status === 304) {
          this.resMode = RES_NONE;
        } else if (head.chunked) {
          this.resMode = RES_CHUNKED;
          if (this.resScanner === null) this.resScanner = new ChunkedScanner();
          else this.resScanner.reset();
        } else if (head.contentLength >= 0) {
          this.resMode = RES_LENGTH;
          this.resRemaining = head.contentLength;
        } else {
          this.resMode = RES_CLOSE;
          this.resClose = true;
        }
        from = headEnd;
        break;
      }
    }

    // The body part of `data` from `from`.
    let end: number;
    switch (this.resMode) {
      case RES_NONE:
        end = from;
        break;
      case RES_LENGTH: {
        const avail = data.length - from;
        if (avail >= this.resRemaining) { end = from + this.resRemaining; this.resRemaining = 0; }
        else { this.resRemaining -= avail; end = -1; }
        break;
      }
      case RES_CHUNKED:
        try {
          end = this.resScanner!.feed(data, from);
        } catch {
          this.upstreamBroken(up);
          return;
        }
        break;
      default:
        end = -1;
        break;
    }
    if (end < 0) {
      this.writeClient(writeFrom === 0 ? data : data.subarray(writeFrom));
      return;
    }
    this.writeClient(writeFrom === 0 && end === data.length ? data : data.subarray(writeFrom, end));
    // Bytes after the response end mean a confused upstream: never reuse that connection.
    if (end < data.length) this.resClose = true;
    this.finish();
  }

  private writeClient(data: Buffer): void {
    if (data.length === 0) return;
    this.resSent = true;
    if (!this.socket.write(data) && this.up !== null) this.up.socket.pause();
  }

  private startTunnel(up: Upstream, data: Buffer): void {
    this.tunnel = true;
    this.hub.recordLocal(this.route!, 101, performance.now() - this.t0, this.version);
    this.writeClient(data);
    // Bytes the client sent after the upgrade request are the tunnel's first bytes.
    const pending = this.buf;
    this.buf = null;
    if (pending !== null && !up.socket.write(pending)) this.pauseForUpstream();
    if (this.pausedForPipeline) { this.pausedForPipeline = false; if (!this.pausedForUpstream) this.socket.resume(); }
  }

  /** The upstream closed or failed while this exchange used it. */
  onUpstreamGone(up: Upstream, err: Error | null): void {
    if (up !== this.up) return;
    if (this.tunnel) {
      this.detach();
      this.tunnelDone();
      this.socket.end();
      return;
    }
    if (err === null && this.resHeadDone && this.resMode === RES_CLOSE) {
      this.finish();
      return;
    }
    if (!this.resStarted && this.replayable && this.attempts === 0 && (this.idempotent || up.reused || !up.connected)) {
      this.retry();
      return;
    }
    this.detach();
    if (!this.resSent) this.finishLocal(502, 'upstream failed', !this.reqDone);
    else this.abort(502);
  }

  /** The client's body is malformed or cut short: the stream cannot be framed any further. */
  private badBody(text = 'malformed chunked body'): void {
    const up = this.detach();
    if (up !== null) up.kill();
    this.reqDone = false;
    if (!this.resSent) this.finishLocal(400, text, true);
    else this.abort(400);
  }

  private upstreamBroken(up: Upstream): void {
    up.kill();
    this.detach();
    if (!this.resSent) this.finishLocal(502, 'invalid upstream response', true);
    else this.abort(502);
  }

  /** Replays the request on a fresh connection, to the same version. */
  private retry(): void {
    this.attempts++;
    this.detach();
    const backend = this.hub.pickVersion(this.route!, this.version) ?? (this.listener.preview ? null : this.hub.pick(this.route!));
    if (backend === null) {
      this.finishLocal(503, 'no ready instance', !this.reqDone);
      return;
    }
    this.version = backend.version;
    const up = this.hub.connect(backend);
    this.attach(up);
    let flowing = true;
    if (this.replayFirst !== null) flowing = up.socket.write(this.replayFirst);
    const more = this.replayMore;
    if (more !== null) for (let i = 0; i < more.length; i++) flowing = up.socket.write(more[i]!);
    // A new attempt, a new wait (or, with body bytes still to come, none yet).
    this.waitingSince = this.reqDone ? performance.now() : 0;
    // The old connection's 'drain' will never come; the new one's decides from now on.
    if (flowing && this.pausedForUpstream) {
      this.pausedForUpstream = false;
      if (!this.pausedForPipeline) this.socket.resume();
    } else if (!flowing) {
      this.pauseForUpstream();
    }
  }

  /**
   * Called by the hub's sweep: when the instance has sent no response head within the route's
   * response timeout, the instance is reported failing and the client gets a 504. Only complete
   * interim responses (100, 103) can have reached the client by then, so a final 504 is still
   * well-formed HTTP. @internal
   */
  checkResponseTimeout(now: number, defaultMs: number): void {
    const route = this.route;
    if (this.waitingSince === 0 || this.resHeadDone || this.up === null || route === null) return;
    const limitMs = route.spec.responseTimeoutMs ?? defaultMs;
    if (now - this.waitingSince < limitMs) return;
    this.waitingSince = 0;
    const up = this.detach()!;
    // A late answer would arrive on a connection the next exchange might reuse: never reuse it.
    up.kill();
    this.resBuf = null;
    // Before the 504 goes out, so a request the client sends next already avoids the instance.
    this.hub.upstreamTimedOut(route, up.pool.id, this.version, limitMs);
    this.finishLocal(504, 'upstream timed out', !this.reqDone);
  }

  private tunnelDone(): void {
    this.tunnel = false;
    this.busy = false;
    this.hub.exchangeDone();
  }

  // ---- ends of an exchange -----------------------------------------------------------------

  /** The response ended normally. */
  private finish(): void {
    const now = performance.now();
    this.hub.recordLocal(this.route!, this.resStatus, now - this.t0, this.version);
    const up = this.up!;
    const pool = up.pool;
    this.up = null;
    up.conn = null;
    if (this.resClose || !this.reqDone || pool.forgotten || this.hub.closed || up.dead) up.kill();
    else this.hub.park(up, now);
    this.hub.release(pool);
    this.endExchange(now);
  }

  /** The proxy answers the request itself (502/503). */
  private finishLocal(status: number, text: string, close: boolean): void {
    const now = performance.now();
    this.hub.recordLocal(this.route!, status, now - this.t0, this.version);
    this.socket.write(localResponse(status, text, close || !this.keepAlive));
    if (close) this.keepAlive = false;
    this.endExchange(now);
  }

  private endExchange(now: number): void {
    this.busy = false;
    this.waitingSince = 0;
    this.replayFirst = null;
    this.replayMore = null;
    this.route = null;
    this.idleSince = now;
    this.hub.exchangeDone();
    if (!this.keepAlive || this.resClose || !this.reqDone || this.clientEnded || this.listener.closing || this.hub.closed) {
      this.buf = null;
      this.close();
      return;
    }
    if (this.buf !== null) this.drainPending();
    else if (this.pausedForPipeline) { this.pausedForPipeline = false; if (!this.pausedForUpstream) this.socket.resume(); }
  }

  /** The exchange cannot complete: record it and drop both connections. */
  private abort(status: number): void {
    const up = this.detach();
    if (up !== null) up.kill();
    if (this.route !== null) this.hub.recordLocal(this.route, status, performance.now() - this.t0, this.version);
    this.busy = false;
    this.waitingSince = 0;
    this.replayFirst = null;
    this.replayMore = null;
    this.route = null;
    this.hub.exchangeDone();
    this.closing = true;
    this.socket.destroy();
  }
}

/**
 * All proxy listeners of one agent.
 *
 * Every request is recorded in the metrics with the version it went to (`none` when none was
 * chosen): the instance's status, or 503 (no ready instance), 502 (the instance failed before
 * answering, after the one replay, or failed mid-response — the client connection is then
 * closed), 504 (no response head within the route's response timeout; the instance is then
 * reported to {@link BackendSource.markFailing}), 400/431 (unparseable request), 499 (the
 * client left before the response ended).
 *
 * On the public listener the first header route whose header matches (name in any case, value
 * exact after trimming spaces; repeated lines are joined with `, ` first) sends the request to
 * its version, with no sticky cookie — or, when that version has no ready instance, lets it go
 * on as if no header matched. Otherwise a sticky route sends it to the version its cookie names while that version has weight and a
 * ready instance, and else by weight; the response then gets `Set-Cookie` unless the request's
 * cookie already named the version that answered. Cookie values are versions as URI
 * components, `Max-Age` is `ttlMs` rounded up to seconds. The preview listener ignores both.
 *
 * Unless `forwardedHeaders` is false, every forwarded request (public and preview listener, each
 * request of a keep-alive connection, WebSocket upgrades) carries `X-Forwarded-For: <client>`,
 * `X-Forwarded-Proto: http` and `X-Forwarded-Host: <Host>`; see {@link ProxyHubOptions.trustForwarded}
 * for what happens to the ones a client sent.
 *
 * @example
 * const hub = new ProxyHub({ backends: supervisor, metrics: new RequestMetrics() });
 * await hub.setRoute({ service: 'web', environment: 'prod', host: '127.0.0.1', port: 8080,
 *   versions: [{ version: 'v1', weight: 90 }, { version: 'v2', weight: 10 }], preview: null,
 *   headerRoutes: [{ name: 'X-Canary', value: 'always', version: 'v2' }], sticky: { cookie: 'gw_web', ttlMs: 3_600_000 } });
 * // draining an instance before stopping it:
 * hub.forget(instance.id);
 * while (hub.inflight(instance.id) > 0) await sleep(50);
 */
export class ProxyHub implements ProxyHubApi {
  private readonly backends: BackendSource;
  private readonly metrics: RequestMetricsApi;
  private readonly logger: { warn(obj: object, msg: string): void } | undefined;
  private readonly upstreamIdleMs: number;
  private readonly clientIdleMs: number;
  private readonly connectTimeoutMs: number;
  private readonly responseTimeoutMs: number;
  /** Compiled `trustForwarded`; null when `forwardedHeaders` is off. @internal */
  readonly trust: TrustList | null;
  private readonly held: HeldSockets;
  private readonly entries = new Map<string, RouteEntry>();
  private readonly pools = new Map<string, Pool>();
  private readonly forgotten = new Set<string>();
  private readonly guardMap = new Map<string, CanaryGuard>();
  private readonly listeners = new Set<Listener>();
  /** Closed listeners whose connections still finish a request: the sweep keeps their response timeouts running. */
  private readonly retired = new Set<Listener>();
  private sweeper: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private idleWaiter: (() => void) | null = null;
  /** Exchanges in progress on every listener (tunnels included). @internal */
  active = 0;
  /** Set by `close()`. @internal */
  closed = false;

  constructor(opts: ProxyHubOptions) {
    this.backends = opts.backends;
    this.metrics = opts.metrics;
    this.logger = opts.logger;
    this.upstreamIdleMs = opts.upstreamIdleMs ?? 2000;
    this.clientIdleMs = opts.clientIdleMs ?? 60_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.responseTimeoutMs = opts.responseTimeoutMs ?? 30_000;
    this.trust = opts.forwardedHeaders === false ? null : new TrustList(opts.trustForwarded ?? []);
    this.held = opts.held ?? HeldSockets.none();
  }

  /**
   * Opens, moves or closes the route's listeners and swaps its weights, header routes and
   * stickiness atomically. Rejects with PortInUseError when a port is taken, and with an
   * `invalid_argument` GangwayError naming the field for a header name or cookie name that is
   * not an HTTP token, a header value with surrounding whitespace or a ttlMs ≤ 0; the previous
   * route then stays in force.
   */
  setRoute(route: RouteSpec): Promise<void> {
    return this.serial(() => this.applyRoute(route));
  }

  /** Closes the listeners of a route (connections finish their current request first). No-op for an unknown route. */
  removeRoute(service: string, environment: string): Promise<void> {
    return this.serial(async () => {
      const key = routeKey(service, environment);
      const entry = this.entries.get(key);
      if (entry === undefined) return;
      this.entries.delete(key);
      await Promise.all([entry.main, entry.previewListener].map((l) => (l === null ? undefined : this.closeListener(l))));
    });
  }

  /** The routes in force, as given to `setRoute`. */
  routes(): RouteSpec[] {
    return [...this.entries.values()].map((e) => e.compiled.spec);
  }

  /** Requests being forwarded to the backend right now (open WebSocket tunnels count as one each). */
  inflight(backendId: string): number {
    return this.pools.get(backendId)?.inflight ?? 0;
  }

  /**
   * Closes idle pooled connections to the backend and never sends it another request, even if
   * `ready()` still lists it; requests already sent to it finish. Backend ids are not reused.
   */
  forget(backendId: string): void {
    this.forgotten.add(backendId);
    const pool = this.pools.get(backendId);
    if (pool === undefined) return;
    pool.forgotten = true;
    for (const up of pool.idle) up.kill();
    pool.idle.length = 0;
    if (pool.inflight === 0) this.pools.delete(backendId);
  }

  /** Stops accepting, waits up to `graceMs` (default 5000) for requests in flight, then closes every connection. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listeners = [...this.listeners];
    this.entries.clear();
    await Promise.all(listeners.map((l) => this.closeListener(l)));
    for (const pool of this.pools.values()) {
      for (const up of pool.idle) up.kill();
      pool.idle.length = 0;
    }
    if (this.active > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.idleWaiter = () => { clearTimeout(timer); resolve(); };
      });
      this.idleWaiter = null;
    }
    for (const l of listeners) for (const c of l.conns) c.socket.destroy();
    for (const l of this.retired) for (const c of l.conns) c.socket.destroy();
    this.retired.clear();
    for (const pool of this.pools.values()) for (const up of pool.idle) up.kill();
    this.pools.clear();
    if (this.sweeper !== null) { clearInterval(this.sweeper); this.sweeper = null; }
  }

  // ---- used by connections ------------------------------------------------------------------

  /** Smooth weighted round-robin over versions with a ready instance, then round-robin among instances. @internal */
  pick(route: CompiledRoute): Backend | null {
    const { versions, weights, current, lists } = route;
    const svc = route.spec.service, env = route.spec.environment;
    let best = -1;
    let total = 0;
    for (let i = 0; i < versions.length; i++) {
      const w = weights[i]!;
      if (w <= 0) continue;
      const list = this.backends.ready(svc, env, versions[i]!);
      if (list.length === 0 || (this.forgotten.size > 0 && !this.hasUsable(list))) continue;
      lists[i] = list;
      current[i]! += w;
      total += w;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    if (best < 0) return null;
    current[best]! -= total;
    return this.roundRobin(lists[best]!, route.cursor, best);
  }

  /** A ready instance of one version of the route. @internal */
  pickVersion(route: CompiledRoute, version: string): Backend | null {
    const list = this.backends.ready(route.spec.service, route.spec.environment, version);
    if (list.length === 0) return null;
    const i = route.versions.indexOf(version);
    if (i >= 0) return this.roundRobin(list, route.cursor, i);
    const b = list[route.previewCursor++ % list.length]!;
    return this.forgotten.has(b.id) ? (list.find((x) => !this.forgotten.has(x.id)) ?? null) : b;
  }

  /** A ready instance of the route's `i`-th version. @internal */
  pickIndex(route: CompiledRoute, i: number): Backend | null {
    const list = this.backends.ready(route.spec.service, route.spec.environment, route.versions[i]!);
    return list.length === 0 ? null : this.roundRobin(list, route.cursor, i);
  }

  /** Preview listener: every request goes to the preview version. @internal */
  pickPreview(route: CompiledRoute): Backend | null {
    const preview = route.spec.preview;
    if (preview === null) return null;
    const list = this.backends.ready(route.spec.service, route.spec.environment, preview.version);
    for (let n = 0; n < list.length; n++) {
      const b = list[route.previewCursor++ % list.length]!;
      if (!this.forgotten.has(b.id)) return b;
    }
    return null;
  }

  private hasUsable(list: readonly Backend[]): boolean {
    for (let i = 0; i < list.length; i++) if (!this.forgotten.has(list[i]!.id)) return true;
    return false;
  }

  private roundRobin(list: readonly Backend[], cursor: number[], i: number): Backend | null {
    for (let n = 0; n < list.length; n++) {
      const b = list[cursor[i]!++ % list.length]!;
      if (this.forgotten.size === 0 || !this.forgotten.has(b.id)) return b;
    }
    return null;
  }

  private poolFor(backend: Backend): Pool {
    let pool = this.pools.get(backend.id);
    if (pool === undefined) {
      pool = new Pool(backend.id, backend.port);
      this.pools.set(backend.id, pool);
    } else if (pool.port !== backend.port) {
      // The instance was restarted on another port: connections to the old one are useless.
      for (const up of pool.idle) up.kill();
      pool.idle.length = 0;
      pool.port = backend.port;
    }
    return pool;
  }

  /** An idle pooled connection to the backend, or a new one. @internal */
  acquire(backend: Backend): Upstream {
    const pool = this.poolFor(backend);
    const idle = pool.idle;
    while (idle.length > 0) {
      const up = idle.pop()!;
      if (!up.dead) {
        up.reused = true;
        return up;
      }
    }
    return new Upstream(pool, this.connectTimeoutMs);
  }

  /** A new connection to the backend (for a replay). @internal */
  connect(backend: Backend): Upstream {
    return new Upstream(this.poolFor(backend), this.connectTimeoutMs);
  }

  /** Returns a connection to its pool after a complete exchange. @internal */
  park(up: Upstream, now: number): void {
    up.idleSince = now;
    up.reused = false;
    if (up.socket.isPaused()) up.socket.resume();
    up.pool.idle.push(up);
  }

  /** An exchange no longer uses the pool. @internal */
  release(pool: Pool): void {
    pool.inflight--;
    if (pool.forgotten && pool.inflight === 0 && this.pools.get(pool.id) === pool) this.pools.delete(pool.id);
  }

  /** An exchange (or tunnel) ended; wakes `close()` when it was the last. @internal */
  exchangeDone(): void {
    this.active--;
    if (this.active === 0 && this.idleWaiter !== null) this.idleWaiter();
  }

  /** An instance sent no response head within the route's response timeout: it leaves the traffic until a health check passes. @internal */
  upstreamTimedOut(route: CompiledRoute, backendId: string, version: string, limitMs: number): void {
    this.backends.markFailing?.(backendId, `no response head within ${limitMs} ms to a proxied request`);
    this.logger?.warn({ service: route.spec.service, environment: route.spec.environment, version, instance: backendId, responseTimeoutMs: limitMs },
      'instance sent no response head within the response timeout: answered 504, instance taken out of traffic until a health check passes');
  }

  /** Records one request of the route; `elapsedMs` since its head arrived. @internal */
  recordLocal(route: CompiledRoute, status: number, elapsedMs: number, version = 'none'): void {
    this.metrics.record(route.spec.service, route.spec.environment, version, status, elapsedMs / 1000);
    if (route.guard !== null && route.guard.observe(version, status)) this.guardTripped(route.guard);
  }

  // ---- canary guards (src/agent/canary-guard.ts) --------------------------------------------

  /**
   * Sets or removes the canary guard of a route. The same spec again keeps the guard's counts and
   * trip. A new guard starts from the stable's cumulative counters. The guard goes away by itself
   * when a route is set without its canary, or without the stable at a weight above 0.
   */
  setGuard(service: string, environment: string, spec: CanaryGuardSpec | null): void {
    const key = routeKey(service, environment);
    const old = this.guardMap.get(key);
    if (spec !== null && old?.sameAs(spec)) return;
    if (spec === null) {
      this.guardMap.delete(key);
    } else {
      if (!(spec.alpha > 0 && spec.alpha < 1)) throw new GangwayError('invalid_argument', `guard.alpha must be in (0, 1), got ${spec.alpha}`);
      if (spec.canary === spec.stable) throw new GangwayError('invalid_argument', `guard.canary and guard.stable are both ${JSON.stringify(spec.canary)}`);
      const stable = this.metrics.counters(service, environment).find((c) => c.version === spec.stable);
      this.guardMap.set(key, new CanaryGuard(service, environment, { canary: spec.canary, stable: spec.stable, alpha: spec.alpha },
        { total: stable?.total ?? 0, errors: stable?.errors ?? 0 }));
    }
    const entry = this.entries.get(key);
    if (entry !== undefined) entry.compiled.guard = this.guardMap.get(key) ?? null;
  }

  /** Every canary guard's state and evidence. */
  guards(): CanaryGuardStatus[] {
    return [...this.guardMap.values()].map((g) => g.status());
  }

  /** The route as it may be served: a tripped guard's canary at weight 0 and without header routes. */
  private guarded(spec: RouteSpec, guard: CanaryGuard | undefined): RouteSpec {
    if (guard === undefined || !guard.isTripped) return spec;
    const canary = guard.spec.canary;
    if (!spec.versions.some((v) => v.version === canary && v.weight > 0) && !spec.headerRoutes?.some((h) => h.version === canary)) return spec;
    const out: RouteSpec = { ...spec, versions: spec.versions.map((v) => (v.version === canary ? { version: v.version, weight: 0 } : v)) };
    if (spec.headerRoutes !== undefined) out.headerRoutes = spec.headerRoutes.filter((h) => h.version !== canary);
    return freezeRoute(out);
  }

  /** Swaps the guard's route for one without the canary: the next request goes to the stable. */
  private guardTripped(guard: CanaryGuard): void {
    const entry = this.entries.get(routeKey(guard.service, guard.environment));
    if (entry !== undefined) {
      const compiled = new CompiledRoute(this.guarded(entry.compiled.spec, guard));
      compiled.guard = guard;
      entry.compiled = compiled;
    }
    const st = guard.status();
    this.logger?.warn({ service: guard.service, environment: guard.environment, canary: st.canary, detail: st.detail }, 'canary guard tripped: canary taken out of traffic');
  }

  // ---- listeners ----------------------------------------------------------------------------

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async applyRoute(input: RouteSpec): Promise<void> {
    if (this.closed) throw new GangwayError('conflict', 'the proxy is closed');
    const frozen = freezeRoute(input);
    const key = routeKey(frozen.service, frozen.environment);
    let guard = this.guardMap.get(key);
    if (guard !== undefined && !(frozen.versions.some((v) => v.version === guard!.spec.canary)
      && frozen.versions.some((v) => v.version === guard!.spec.stable && v.weight > 0))) {
      // Rolled back, promoted or rerouted: the guard's comparison is over.
      this.guardMap.delete(key);
      guard = undefined;
    }
    const spec = this.guarded(frozen, guard);
    const entry = this.entries.get(key);
    let compiled = new CompiledRoute(spec);
    if (entry !== undefined) compiled.inherit(entry.compiled);
    const target: RouteEntry = entry ?? { compiled, main: null, previewListener: null };

    const needMain = target.main === null || target.main.port !== spec.port || target.main.host !== spec.host;
    const wantPreview = spec.preview;
    const needPreview = wantPreview !== null && (target.previewListener === null || target.previewListener.port !== wantPreview.port || target.previewListener.host !== spec.host);
    const opened: Listener[] = [];
    try {
      if (needMain) opened.push(await this.listen(target, spec.port, spec.host, false));
      if (needPreview) opened.push(await this.listen(target, wantPreview.port, spec.host, true));
    } catch (err) {
      await Promise.all(opened.map((l) => this.closeListener(l)));
      throw err;
    }

    // The swap: one assignment each; requests already forwarded finish where they started.
    if (guard !== undefined && this.guarded(spec, guard) !== spec) {
      // The guard tripped while the listeners opened.
      compiled = new CompiledRoute(this.guarded(spec, guard));
    }
    compiled.guard = guard ?? null;
    target.compiled = compiled;
    const old: Listener[] = [];
    if (needMain) {
      if (target.main !== null) old.push(target.main);
      target.main = opened[0]!;
    }
    if (needPreview) {
      if (target.previewListener !== null) old.push(target.previewListener);
      target.previewListener = opened[opened.length - 1]!;
    } else if (wantPreview === null && target.previewListener !== null) {
      old.push(target.previewListener);
      target.previewListener = null;
    }
    this.entries.set(key, target);
    this.ensureSweeper();
    await Promise.all(old.map((l) => this.closeListener(l)));
  }

  private listen(entry: RouteEntry, port: number, host: string, preview: boolean): Promise<Listener> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true });
      const listener = new Listener(server, port, host, entry, preview);
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, host, { cause: err }) : err);
      };
      // A socket the keeper held through a restart of this process is taken over as it is: the
      // connections queued meanwhile are accepted now.
      listenHeld(server, this.held, tcpKey(host, port), (s, done) => s.listen({ port, host, exclusive: true }, done)).then(() => {
        server.on('error', (err) => this.logger?.warn({ err, port, host }, 'proxy listener error'));
        this.listeners.add(listener);
        resolve(listener);
      }, onError);
      server.on('connection', (socket: net.Socket) => {
        if (listener.closing) { socket.destroy(); return; }
        listener.conns.add(new ClientConn(this, listener, socket));
      });
    });
  }

  /** Stops accepting on the listener; idle connections close now, busy ones after their response. */
  private closeListener(listener: Listener): Promise<void> {
    if (listener.closing) return Promise.resolve();
    listener.closing = true;
    this.listeners.delete(listener);
    for (const conn of listener.conns) conn.closeWhenIdle();
    if (listener.conns.size > 0) this.retired.add(listener);
    return new Promise((resolve) => {
      // server.close() releases the port at once; its callback waits for every connection, which we do not.
      listener.server.close();
      this.held.release(tcpKey(listener.host, listener.port));
      setImmediate(resolve);
    });
  }

  private ensureSweeper(): void {
    if (this.sweeper !== null) return;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Closes idle pooled connections past their timeout and client connections idle for too long. */
  private sweep(): void {
    const now = performance.now();
    for (const pool of this.pools.values()) {
      const idle = pool.idle;
      if (idle.length === 0) {
        // Instances come and go; drop pools nobody uses so the map does not grow with them.
        if (pool.inflight === 0) this.pools.delete(pool.id);
        continue;
      }
      let keep = 0;
      for (let i = 0; i < idle.length; i++) {
        const up = idle[i]!;
        if (up.dead) continue;
        if (now - up.idleSince >= this.upstreamIdleMs) { up.kill(); continue; }
        idle[keep++] = up;
      }
      idle.length = keep;
    }
    for (const l of this.listeners) {
      for (const c of l.conns) {
        if (!c.busy) { if (now - c.idleSince >= this.clientIdleMs) c.socket.destroy(); }
        else c.checkResponseTimeout(now, this.responseTimeoutMs);
      }
    }
    for (const l of this.retired) {
      if (l.conns.size === 0) { this.retired.delete(l); continue; }
      for (const c of l.conns) if (c.busy) c.checkResponseTimeout(now, this.responseTimeoutMs);
    }
  }
}

function routeKey(service: string, environment: string): string {
  return `${service}\u0000${environment}`;
}

function freezeRoute(r: RouteSpec): RouteSpec {
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new GangwayError('invalid_argument', `route.port must be an integer 0–65535, got ${r.port}`);
  for (const v of r.versions) {
    if (!(typeof v.weight === 'number' && Number.isFinite(v.weight) && v.weight >= 0)) {
      throw new GangwayError('invalid_argument', `route.versions[${v.version}].weight must be a number >= 0, got ${v.weight}`);
    }
  }
  if (r.preview !== null && r.preview.port === r.port) throw new GangwayError('invalid_argument', `route.preview.port must differ from route.port (${r.port})`);
  const frozen: RouteSpec = {
    service: r.service,
    environment: r.environment,
    port: r.port,
    host: r.host,
    versions: Object.freeze(r.versions.map((v) => Object.freeze({ version: v.version, weight: v.weight }))) as RouteSpec['versions'],
    preview: r.preview === null ? null : Object.freeze({ port: r.preview.port, version: r.preview.version }),
  };
  // Absent stays absent, so `routes()` and the state file give back exactly what was set.
  if (r.headerRoutes !== undefined) {
    r.headerRoutes.forEach((h, i) => {
      if (!TOKEN.test(h.name)) throw new GangwayError('invalid_argument', `route.headerRoutes[${i}].name must be an HTTP header name, got ${JSON.stringify(h.name)}`);
      if (!FIELD_VALUE.test(h.value)) {
        throw new GangwayError('invalid_argument', `route.headerRoutes[${i}].value must be visible characters without leading or trailing whitespace, got ${JSON.stringify(h.value)}`);
      }
      if (h.version === '') throw new GangwayError('invalid_argument', `route.headerRoutes[${i}].version must not be empty`);
    });
    frozen.headerRoutes = Object.freeze(r.headerRoutes.map((h) => Object.freeze({ name: h.name, value: h.value, version: h.version }))) as NonNullable<RouteSpec['headerRoutes']>;
  }
  if (r.sticky !== undefined) {
    const st = r.sticky;
    if (st !== null) {
      if (!TOKEN.test(st.cookie)) throw new GangwayError('invalid_argument', `route.sticky.cookie must be a cookie name (an HTTP token), got ${JSON.stringify(st.cookie)}`);
      if (!(typeof st.ttlMs === 'number' && Number.isFinite(st.ttlMs) && st.ttlMs > 0)) {
        throw new GangwayError('invalid_argument', `route.sticky.ttlMs must be a number > 0, got ${st.ttlMs}`);
      }
    }
    frozen.sticky = st === null ? null : Object.freeze({ cookie: st.cookie, ttlMs: st.ttlMs });
  }
  if (r.responseTimeoutMs !== undefined) {
    const ms = r.responseTimeoutMs;
    if (!(typeof ms === 'number' && Number.isInteger(ms) && ms > 0 && ms <= MAX_RESPONSE_TIMEOUT_MS)) {
      throw new GangwayError('invalid_argument', `route.responseTimeoutMs must be a whole number of ms from 1 to ${MAX_RESPONSE_TIMEOUT_MS}, got ${ms}`);
    }
    frozen.responseTimeoutMs = ms;
  }
  return Object.freeze(frozen);
}

/** The longest response timeout a route may set: an hour, as `target.local.responseTimeout` allows. */
const MAX_RESPONSE_TIMEOUT_MS = 3_600_000;

/** RFC 9110 token: header and cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value that can match after the proxy trims optional whitespace: visible latin1, inner spaces allowed. */
const FIELD_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\x20\x09\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;
