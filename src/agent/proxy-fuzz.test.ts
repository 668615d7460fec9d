/**
 * A fuzzer for the agent proxy's HTTP/1.1 framing, kept in the suite. The proxy forwards request
 * heads as received (src/agent/http1.ts reads only what decides framing), so any byte sequence it
 * reads one way and the instance reads another is a request-smuggling hole. Every input here goes
 * over a raw `node:net` socket to a real proxy in front of a real `node:http` instance that records
 * what it parsed; each outcome is exact: either the proxy itself answers 400/431/505 and closes,
 * the instance having parsed nothing of it, or the instance parses exactly the requests an
 * unambiguous parse gives and the client gets its answers.
 *
 * Two sets: hand-written attacks (CL.TE, TE.CL and obfuscated Transfer-Encoding, bad lengths and
 * chunk sizes, oversized heads, bad names and values, obs-fold, missing Host, smuggling through
 * header values, trailers and bodies), and seeded mutations of valid requests whose expected parse
 * is what Node's own parser (llhttp, strict) makes of the same bytes, sent to a second instance.
 * The proxy may be stricter than llhttp (it refuses, the instance parses nothing), never laxer.
 * Results and counts are in docs/security.md, "Malformed HTTP/1.1 at the proxy".
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './ports.js';
import { ProxyHub } from './proxy.js';
import { RequestMetrics } from './request-metrics.js';
import type { Backend, BackendSource } from './types.js';

// ---- fixtures --------------------------------------------------------------------------------

/** Each exchange gets this long before it counts as a hang; a guard, not a claim about speed. */
const HANG_GUARD_MS = 15_000;
const SEED = 0x5eed_2026;
const MUTATED_CASES = 400;

class OneBackend implements BackendSource {
  constructor(private readonly backend: Backend) {}
  ready(): readonly Backend[] { return [this.backend]; }
}

interface Parsed { method: string; url: string; body: string }

/**
 * A real node:http instance recording what its parser made of the bytes it got: complete requests
 * (method, url, body), requests whose body never ended, and parse errors by llhttp code. Its head
 * limit is raised above the proxy's 64 KiB so that the proxy's own limit is what a big head meets.
 */
class Recorder {
  readonly complete: Parsed[] = [];
  readonly cutShort: string[] = [];
  readonly parseErrors: string[] = [];
  readonly server: http.Server;
  port = 0;

  constructor() {
    this.server = http.createServer({ maxHeaderSize: 96 * 1024 }, (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('close', () => { if (!req.complete) this.cutShort.push(req.url ?? ''); });
      req.on('end', () => {
        const p: Parsed = { method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(parts).toString('latin1') };
        this.complete.push(p);
        const body = answerTo(p);
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body, 'latin1') });
        res.end(body, 'latin1');
      });
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      this.parseErrors.push(err.code ?? err.message);
      socket.destroy();
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  reset(): void {
    this.complete.length = 0;
    this.cutShort.length = 0;
    this.parseErrors.length = 0;
  }

  /** Resolves once every connection has ended, so everything it was sent has been parsed and recorded. */
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function answerTo(p: Parsed): string {
  return `ok ${p.method} ${p.url} ${p.body.length}`;
}

/** The proxy's own answers (src/agent/proxy.ts `localResponse`), byte for byte. */
function localAnswer(status: 400 | 431 | 505, text: string): string {
  const reason = { 400: 'Bad Request', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported' }[status];
  const body = `${text}\n`;
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

interface Exchange { received: string; hung: boolean }

/**
 * Writes `data` on a fresh connection (then half-closes when `end`) and collects every byte until
 * the peer closes. With `end` false the peer must close on its own.
 */
async function exchange(port: number, data: Buffer, end: boolean): Promise<Exchange> {
  const sock = net.connect(port, '127.0.0.1');
  const parts: Buffer[] = [];
  let hung = false;
  sock.on('data', (c: Buffer) => parts.push(c));
  sock.on('error', () => { /* a reset ends the exchange like a close; what was received is judged */ });
  sock.setTimeout(HANG_GUARD_MS, () => { hung = true; sock.destroy(); });
  await once(sock, 'connect');
  sock.write(data);
  if (end) sock.end();
  await once(sock, 'close');
  return { received: Buffer.concat(parts).toString('latin1'), hung };
}

interface Response { status: number; raw: string; body: string }

/** Splits what a client received into responses framed by Content-Length (every answer here has one). */
function splitResponses(s: string): { responses: Response[]; rest: string } {
  const responses: Response[] = [];
  let pos = 0;
  while (pos < s.length) {
    const headEnd = s.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const head = s.slice(pos, headEnd);
    const m = /\r\ncontent-length: *(\d+)/i.exec(head);
    const status = Number(head.slice(9, 12));
    if (m === null || !head.startsWith('HTTP/1.1 ')) break;
    const end = headEnd + 4 + Number(m[1]);
    if (end > s.length) break;
    responses.push({ status, raw: s.slice(pos, end), body: s.slice(headEnd + 4, end) });
    pos = end;
  }
  return { responses, rest: s.slice(pos) };
}

/** The case id carried in a URL as `z<id>z`, or -1. */
function caseOf(url: string): number {
  const m = /z(\d+)z/.exec(url);
  return m === null ? -1 : Number(m[1]);
}

// ---- hand-written attacks ----------------------------------------------------------------------

type Expected =
  | { refuse: 400 | 431 | 505; text: string }
  | { forward: Array<[method: string, path: string, body: string]> };

interface Attack { name: string; send: string; end?: boolean; expect: Expected }

const BAD = { refuse: 400, text: 'bad request' } as const;
const BAD_BODY = { refuse: 400, text: 'malformed chunked body' } as const;
const CUT_SHORT = { refuse: 400, text: 'request body cut short' } as const;
const H = 'Host: app.test\r\n';
const smuggled = `GET /admin HTTP/1.1\r\n${H}\r\n`;

/** `{u}` in `send` and in expected paths is replaced by the case's own URL, `/c/z<id>z`. */
const ATTACKS: Attack[] = [
  // CL.TE and TE.CL: both framing headers, in either order, are refused (RFC 9112 6.3 lets a server
  // pick Transfer-Encoding; a proxy forwarding both would leave the choice to the next server).
  { name: 'Content-Length then Transfer-Encoding', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX`, expect: BAD },
  { name: 'Transfer-Encoding then Content-Length', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`, expect: BAD },
  { name: 'CL.TE with a request behind the chunked end', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, expect: BAD },
  { name: 'Transfer-Encoding: chunked, identity', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding: chunked, chunked', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'two Transfer-Encoding lines, chunked first', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'two Transfer-Encoding lines, chunked twice', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding with a space before the colon, and Content-Length', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding with a space before the colon alone', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding: xchunked', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding: chunked followed by a latin1 NBSP', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\xa0\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding: chunked followed by a vertical tab', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding folded onto a second line', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: identity\r\n chunked\r\n\r\n0\r\n\r\n`, expect: BAD },
  { name: 'Transfer-Encoding: gzip, chunked (valid)', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, end: true, expect: { forward: [['POST', '{u}', 'abc']] } },
  { name: 'Transfer-Encoding: CHUNKED in capitals (valid)', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n`, end: true, expect: { forward: [['POST', '{u}', '0123456789']] } },

  // Content-Length values.
  { name: 'two Content-Length lines with different values', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 30\r\n\r\nx${smuggled}`, expect: BAD },
  { name: 'two Content-Length lines with the same value', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx`, expect: BAD },
  { name: 'Content-Length: 1, 1', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 1, 1\r\n\r\nx`, expect: BAD },
  { name: 'negative Content-Length', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nx`, expect: BAD },
  { name: 'hexadecimal Content-Length', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`, expect: BAD },
  { name: 'Content-Length with a plus sign', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, expect: BAD },
  { name: 'Content-Length past 2^64', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 18446744073709551621\r\n\r\nhello`, expect: BAD },
  { name: 'Content-Length followed by a latin1 NBSP', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 5\xa0\r\n\r\nhello`, expect: BAD },
  { name: 'empty Content-Length', send: `POST {u} HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`, expect: BAD },
  { name: 'Content-Length with a leading zero (valid)', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 05\r\n\r\nhello`, end: true, expect: { forward: [['POST', '{u}', 'hello']] } },
  { name: 'body shorter than Content-Length, then half-close', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`, end: true, expect: CUT_SHORT },

  // Chunked bodies.
  { name: 'chunk size zz', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk size -1', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk size of 17 hex digits', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk size 0x5', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'space after the chunk size', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk size line ended by a bare LF', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk extension with a bare LF', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk extension hiding a chunk behind a bare LF', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2;\n30\r\n${'x'.repeat(48)}\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk extension with a NUL', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=\0\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk extension without a name', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk extensions, quoted and plain (valid)', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a=1;b="x \\" y"\r\nhello\r\n0;z\r\n\r\n`, end: true, expect: { forward: [['POST', '{u}', 'hello']] } },
  { name: 'chunk data without its CRLF', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n`, expect: BAD_BODY },
  { name: 'chunk data longer than its size', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, expect: BAD_BODY },
  { name: 'last chunk without the final CRLF, then half-close', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n`, end: true, expect: CUT_SHORT },
  { name: 'request line hidden in the trailers', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n${smuggled}`, expect: BAD_BODY },
  { name: 'trailer ended by a bare LF', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n`, expect: BAD_BODY },
  { name: 'folded trailer', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n`, expect: BAD_BODY },
  { name: 'trailer (valid)', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 1\r\n\r\n`, end: true, expect: { forward: [['POST', '{u}', 'hi']] } },

  // Sizes: the proxy's head limit is 64 KiB; Node's default (16 KiB) is the instance's business.
  { name: 'request line over 64 KiB', send: `GET {u}/${'a'.repeat(70 * 1024)}`, expect: { refuse: 431, text: 'request head too large' } },
  { name: 'head over 64 KiB', send: `GET {u} HTTP/1.1\r\n${H}${'X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(1300)}\r\n`, expect: { refuse: 431, text: 'request head too large' } },
  { name: 'head of 20 KiB, over Node\'s default limit (forwarded)', send: `GET {u} HTTP/1.1\r\n${H}X-Pad: ${'b'.repeat(20 * 1024)}\r\n\r\n`, end: true, expect: { forward: [['GET', '{u}', '']] } },

  // Names and values.
  { name: 'header name with a space', send: `GET {u} HTTP/1.1\r\n${H}X Y: 1\r\n\r\n`, expect: BAD },
  { name: 'header name with a control character', send: `GET {u} HTTP/1.1\r\n${H}X\x01Y: 1\r\n\r\n`, expect: BAD },
  { name: 'header name with a slash', send: `GET {u} HTTP/1.1\r\n${H}X/Y: 1\r\n\r\n`, expect: BAD },
  { name: 'empty header name', send: `GET {u} HTTP/1.1\r\n${H}: 1\r\n\r\n`, expect: BAD },
  { name: 'header line without a colon', send: `GET {u} HTTP/1.1\r\n${H}Nothing\r\n\r\n`, expect: BAD },
  { name: 'header value with a bare CR', send: `GET {u} HTTP/1.1\r\n${H}X: a\rContent-Length: 5\r\n\r\n`, expect: BAD },
  { name: 'header value with a NUL', send: `GET {u} HTTP/1.1\r\n${H}X: a\0b\r\n\r\n`, expect: BAD },
  { name: 'header value with DEL', send: `GET {u} HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, expect: BAD },
  { name: 'header lines ended by a bare LF', send: `POST {u} HTTP/1.1\r\n${H}X: a\nContent-Length: 5\r\n\r\nhello`, expect: BAD },
  { name: 'obs-fold: a line starting with a space', send: `GET {u} HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, expect: BAD },
  { name: 'obs-fold: a line starting with a tab', send: `GET {u} HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`, expect: BAD },
  { name: 'obs-fold as the first header line', send: `GET {u} HTTP/1.1\r\n Host: app.test\r\n\r\n`, expect: BAD },
  { name: 'header punctuation and obs-text (valid)', send: `GET {u} HTTP/1.1\r\n${H}X#$%&'*+^\`|~: caf\xe9\t \r\n\r\n`, end: true, expect: { forward: [['GET', '{u}', '']] } },

  // Request line and Host.
  { name: 'HTTP/1.1 without Host', send: 'GET {u} HTTP/1.1\r\nAccept: */*\r\n\r\n', expect: BAD },
  { name: 'two Host lines', send: `GET {u} HTTP/1.1\r\n${H}Host: evil.test\r\n\r\n`, expect: BAD },
  { name: 'HTTP/1.0 without Host (valid)', send: 'GET {u} HTTP/1.0\r\n\r\n', end: true, expect: { forward: [['GET', '{u}', '']] } },
  { name: 'absolute-form URL to another host (forwarded as received)', send: `GET http://other.test{u} HTTP/1.1\r\n${H}\r\n`, end: true, expect: { forward: [['GET', 'http://other.test{u}', '']] } },
  { name: 'space in the request target', send: `GET {u} x HTTP/1.1\r\n${H}\r\n`, expect: BAD },
  { name: 'tab in the request target', send: `GET {u}\tx HTTP/1.1\r\n${H}\r\n`, expect: BAD },
  { name: 'obs-text in the request target', send: `GET {u}\xe9 HTTP/1.1\r\n${H}\r\n`, expect: BAD },
  { name: 'request line ended by a bare LF', send: `GET {u} HTTP/1.1\n${H}\r\n`, expect: BAD },
  { name: 'HTTP/1.2', send: `GET {u} HTTP/1.2\r\n${H}\r\n`, expect: { refuse: 505, text: 'unsupported HTTP version' } },
  { name: 'HTTP/2.0 in an HTTP/1 request line', send: `GET {u} HTTP/2.0\r\n${H}\r\n`, expect: BAD },
  { name: 'method with a slash', send: `GE/T {u} HTTP/1.1\r\n${H}\r\n`, expect: BAD },

  // Smuggling through values and bodies.
  // (Pipelined cases end with Connection: close, not a half-close: the proxy drops requests still queued at a half-close.)
  { name: 'CRLFCRLF inside a header value is the end of the head', send: `GET {u} HTTP/1.1\r\n${H}X: a\r\n\r\nGET {u}/second HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, expect: { forward: [['GET', '{u}', ''], ['GET', '{u}/second', '']] } },
  { name: 'bare LF LF inside a header value', send: `GET {u} HTTP/1.1\r\n${H}X: a\n\nGET {u}/second HTTP/1.1\r\n${H}\r\n`, expect: BAD },
  { name: 'percent-encoded CRLF in a header value (forwarded as is)', send: `GET {u} HTTP/1.1\r\n${H}X: a%0d%0a%0d%0aGET /admin HTTP/1.1\r\n\r\n`, end: true, expect: { forward: [['GET', '{u}', '']] } },
  { name: 'request hidden in a Content-Length body', send: `POST {u} HTTP/1.1\r\n${H}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`, end: true, expect: { forward: [['POST', '{u}', smuggled]] } },
  { name: 'request hidden in a chunked body', send: `POST {u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`, end: true, expect: { forward: [['POST', '{u}', smuggled]] } },
  { name: 'GET with Content-Length: 0 then a pipelined request', send: `GET {u} HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\nGET {u}/next HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, expect: { forward: [['GET', '{u}', ''], ['GET', '{u}/next', '']] } },
  { name: 'Connection: close drops what follows', send: `GET {u} HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET {u}/next HTTP/1.1\r\n${H}\r\n`, expect: { forward: [['GET', '{u}', '']] } },
];

// ---- seeded mutations ----------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes that matter to HTTP framing, tried more often than random ones. */
const INTERESTING = [0, 9, 10, 13, 32, 44, 58, 59, 34, 92, 127, 0xa0, 0xff, 48, 49, 57, 65, 97, 102, 45, 43, 0x0b];

const BASES = [
  (u: string) => `GET ${u} HTTP/1.1\r\n${H}Accept: */*\r\nX-Tag: v\r\n\r\n`,
  (u: string) => `POST ${u} HTTP/1.1\r\n${H}Content-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world`,
  (u: string) => `POST ${u} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nT: v\r\n\r\n`,
  (u: string) => `PUT ${u} HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
];

/**
 * A valid (or, for the last base, CL.TE) request mutated 1–3 times: a byte flipped or replaced,
 * a letter's case swapped, a byte inserted or deleted, or a header line repeated (sometimes with another value). The method and the
 * URL are left alone: the case id lives in the URL, and an unknown method is the instance's to
 * refuse (the proxy forwards any token, as it must for extension methods).
 */
function mutate(rand: () => number, id: number): Buffer {
  const url = `/g/z${id}z`;
  const base = Buffer.from(BASES[Math.floor(rand() * BASES.length)]!(url), 'latin1');
  let bytes = [...base];
  const fixed = base.indexOf(' HTTP/1.1'); // bytes before this index are method and URL
  const pickByte = (): number => (rand() < 0.7 ? INTERESTING[Math.floor(rand() * INTERESTING.length)]! : Math.floor(rand() * 256));
  const n = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < n; k++) {
    const op = rand();
    const at = fixed + Math.floor(rand() * (bytes.length - fixed));
    if (op < 0.2) {
      bytes[at] = rand() < 0.5 ? bytes[at]! ^ (1 << Math.floor(rand() * 8)) : pickByte();
    } else if (op < 0.35) {
      // Letter case: harmless in names and codings, meaningful in values; mostly keeps the request valid.
      const c = bytes[at]!;
      if ((c | 0x20) >= 97 && (c | 0x20) <= 122) bytes[at] = c ^ 0x20;
    } else if (op < 0.55) {
      bytes.splice(Math.max(at, fixed + 1), 0, pickByte());
    } else if (op < 0.8) {
      if (bytes.length > fixed + 1) bytes.splice(at, 1);
    } else {
      const text = Buffer.from(bytes).toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, headEnd < 0 ? text.length : headEnd).split('\r\n').slice(1);
      if (lines.length === 0) continue;
      let line = lines[Math.floor(rand() * lines.length)]!;
      if (rand() < 0.5) line = line.replace(/\d+|chunked/, (m) => (m === 'chunked' ? 'identity' : String(Number(m) + 1)));
      const insertAt = text.indexOf('\r\n') + 2;
      bytes = [...Buffer.from(text.slice(0, insertAt) + line + '\r\n' + text.slice(insertAt), 'latin1')];
    }
  }
  return Buffer.from(bytes);
}

/** What Node's parser makes of `data` followed by a half-close, on an instance of its own. */
interface NodeParse { requests: Parsed[]; cutShort: number; refused: boolean; eof: boolean }

async function nodeParse(oracle: Recorder, data: Buffer): Promise<NodeParse> {
  oracle.reset();
  const ex = await exchange(oracle.port, data, true);
  const errors = [...oracle.parseErrors];
  return {
    requests: [...oracle.complete],
    cutShort: oracle.cutShort.length,
    // Node answers a missing Host itself (400, chunked) without calling the handler: a refusal like a parse error.
    refused: errors.some((e) => e !== 'HPE_INVALID_EOF_STATE') || /HTTP\/1\.1 (?!200 )\d{3} /.test(ex.received),
    eof: errors.includes('HPE_INVALID_EOF_STATE'),
  };
}

// ---- the run ---------------------------------------------------------------------------------------

describe('proxy fuzzing with malformed HTTP/1.1', () => {
  const upstream = new Recorder();
  const oracle = new Recorder();
  let hub: ProxyHub;
  let port = 0;
  /** Per case id: the requests the upstream must end up with. */
  const expectedAtUpstream = new Map<number, Parsed[]>();
  /** Case ids whose body the proxy refused after its head may already have been forwarded. */
  const bodyRefused = new Set<number>();
  let nextId = 1;

  beforeAll(async () => {
    await upstream.start();
    await oracle.start();
    hub = new ProxyHub({ backends: new OneBackend({ id: 'web-1', version: 'v1', port: upstream.port }), metrics: new RequestMetrics() });
    port = await freePort();
    await hub.setRoute({ service: 'web', environment: 'prod', host: '127.0.0.1', port, versions: [{ version: 'v1', weight: 1 }], preview: null });
  });

  afterAll(async () => {
    await hub.close(0);
    await Promise.all([upstream.stop(), oracle.stop()]);
  });

  it.each(ATTACKS.map((a) => [a.name, a] as const))('%s', async (_name, attack) => {
    const id = nextId++;
    const u = `/c/z${id}z`;
    const fill = (s: string): string => s.replaceAll('{u}', u);
    const ex = await exchange(port, Buffer.from(fill(attack.send), 'latin1'), attack.end ?? false);
    expect(ex.hung).toBe(false);
    const exp = attack.expect;
    if ('refuse' in exp) {
      // The proxy's own answer, nothing else, and the connection closed by the proxy (the client did not half-close).
      expect(ex.received).toBe(localAnswer(exp.refuse, exp.text));
      expectedAtUpstream.set(id, []);
      if (exp.text !== 'bad request' && exp.text !== 'unsupported HTTP version' && exp.refuse === 400) bodyRefused.add(id);
    } else {
      const want = exp.forward.map(([method, path, body]) => ({ method, url: fill(path), body }));
      const { responses, rest } = splitResponses(ex.received);
      expect(rest).toBe('');
      expect(responses.map((r) => [r.status, r.body])).toEqual(want.map((p) => [200, answerTo(p)]));
      expectedAtUpstream.set(id, want);
    }
  });

  it(`mutated requests agree with Node's parser or are refused (seed 0x${SEED.toString(16)}, ${MUTATED_CASES} cases)`, async () => {
    const rand = prng(SEED);
    const problems: string[] = [];
    for (let k = 0; k < MUTATED_CASES; k++) {
      const id = nextId++;
      const data = mutate(rand, id);
      const node = await nodeParse(oracle, data);
      const ex = await exchange(port, data, true);
      const shown = JSON.stringify(data.toString('latin1'));
      if (ex.hung) { problems.push(`hang: ${shown}`); continue; }
      const { responses, rest } = splitResponses(ex.received);
      const answered = responses.filter((r) => r.status === 200);
      const last = responses[responses.length - 1];
      const local = last !== undefined && last.status !== 200 ? last : null;
      // Node's complete requests, answered in order, up to where the proxy refused (if it did).
      const forwarded = node.requests.slice(0, answered.length);
      const answersOk = answered.length === responses.length - (local === null ? 0 : 1) &&
        answered.every((r, i) => forwarded[i] !== undefined && r.body === answerTo(forwarded[i]!));
      const localOk = local === null || [400, 431, 505].some((s) => local.raw === localAnswer(s as 400 | 431 | 505, 'bad request') ||
        local.raw === localAnswer(s as 400 | 431 | 505, 'unsupported HTTP version') || local.raw === localAnswer(s as 400 | 431 | 505, 'request head too large') ||
        local.raw === localAnswer(s as 400 | 431 | 505, 'malformed chunked body') || local.raw === localAnswer(s as 400 | 431 | 505, 'request body cut short'));
      let why: string | null = null;
      if (rest !== '' || !answersOk || !localOk) why = `unexpected answer ${JSON.stringify(ex.received)}`;
      // Where Node refused, the proxy refused too, or forwarded what Node parsed and dropped an incomplete tail
      // at the half-close (forwarding anything the instance cannot parse shows as a parse error there, checked at the end).
      else if (node.refused && local === null && answered.length !== node.requests.length) why = 'Node refused it, the proxy did not';
      // A body Node saw cut short (the half-close came first) is answered 400 by the proxy.
      else if (node.eof && node.cutShort > 0 && local === null) why = 'body cut short, but no 400';
      // Everything Node parsed is forwarded unless the proxy refused (it may be stricter, never laxer).
      else if (local === null && answered.length !== node.requests.length) why = `${node.requests.length} requests for Node, ${answered.length} forwarded`;
      if (why !== null) problems.push(`${why}: ${shown}`);
      expectedAtUpstream.set(id, forwarded);
      if (local !== null && (local.body === 'malformed chunked body\n' || local.body === 'request body cut short\n')) bodyRefused.add(id);
    }
    expect(problems).toEqual([]);
  });

  it('still serves a normal request, and the instance parsed exactly the expected requests and nothing else', async () => {
    const id = nextId++;
    const ok = await exchange(port, Buffer.from(`GET /c/z${id}z HTTP/1.1\r\n${H}\r\n`, 'latin1'), true);
    expect(splitResponses(ok.received).responses.map((r) => [r.status, r.body])).toEqual([[200, `ok GET /c/z${id}z 0`]]);
    expectedAtUpstream.set(id, [{ method: 'GET', url: `/c/z${id}z`, body: '' }]);

    // Barrier: with the proxy's upstream connections closed and the instance stopped, everything it
    // was ever sent has been parsed and recorded — including anything a refused case let through.
    await hub.close(0);
    await upstream.stop();
    const byCase = new Map<number, Parsed[]>();
    for (const p of upstream.complete) byCase.set(caseOf(p.url), [...(byCase.get(caseOf(p.url)) ?? []), p]);
    for (const [caseId, want] of expectedAtUpstream) expect([caseId, byCase.get(caseId) ?? []]).toEqual([caseId, want]);
    expect([...byCase.keys()].filter((k) => !expectedAtUpstream.has(k))).toEqual([]);
    // Never bytes the instance could not parse; a head whose body the proxy then refused may arrive cut short.
    expect(upstream.parseErrors.filter((e) => e !== 'HPE_INVALID_EOF_STATE' && e !== 'ECONNRESET')).toEqual([]);
    expect(upstream.cutShort.map(caseOf).filter((c) => !bodyRefused.has(c))).toEqual([]);
  });
});
