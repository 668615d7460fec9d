/**
 * Minimal HTTP/1.1 framing for the agent's reverse proxy (RFC 9112). The proxy forwards head
 * bytes as received (but for a few added lines), so these helpers only read what decides framing and connection reuse:
 * the start line, `Content-Length`, `Transfer-Encoding`, `Connection`, `Upgrade` and
 * `Expect` — plus, for routes that ask for them, the few extra request headers of a
 * {@link HeaderCapture} (header routes, a sticky-session cookie), and where the `Host` and
 * `X-Forwarded-*` lines are ({@link ForwardedSpans}) for the forwarding headers. Bodies are
 * never buffered; {@link ChunkedScanner} finds where a chunked body ends by walking the
 * chunk-size lines as bytes stream past.
 */

/** Longest request or response head the proxy accepts (status 431 for requests beyond it). */
export const MAX_HEAD_BYTES = 64 * 1024;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Index just past the `CRLFCRLF` that ends a head in `buf`, searching from `from`, or -1 when
 * the head is not complete yet.
 *
 * @example
 * findHeadEnd(Buffer.from('GET / HTTP/1.1\r\n\r\nrest'), 0); // 18
 */
export function findHeadEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf(CRLFCRLF, from);
  return i < 0 ? -1 : i + 4;
}

/** Framing facts of one request head. `contentLength` is -1 when the header is absent. */
export interface RequestHead {
  method: string;
  /** 10 for HTTP/1.0, 11 for HTTP/1.1. */
  version: number;
  contentLength: number;
  chunked: boolean;
  /** The client wants the connection kept open after this exchange. */
  keepAlive: boolean;
  /** `Connection: upgrade` with an `Upgrade` header (WebSocket and friends). */
  upgrade: boolean;
  expectContinue: boolean;
}

/** Framing facts of one response head. */
export interface ResponseHead {
  status: number;
  version: number;
  contentLength: number;
  chunked: boolean;
  /** The upstream will close (or may close) the connection after this response. */
  close: boolean;
}

/** A request head that cannot be forwarded; `status` is what the proxy answers. */
export class HeadError extends Error {
  override name = 'HeadError';
  constructor(readonly status: number, message: string) { super(message); }
}

/** Compares `s[from..from+lit.length)` to a lower-case literal, ignoring ASCII case. */
function nameIs(s: string, from: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    // Header names are tokens: letters, digits and `-`; OR-ing 0x20 lower-cases letters and leaves `-` as is.
    if ((s.charCodeAt(from + i) | 0x20) !== lit.charCodeAt(i)) return false;
  }
  return true;
}

function parseLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -2;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -2;
    n = n * 10 + c;
  }
  return n;
}

interface HeaderFacts {
  contentLength: number;
  /** -1 absent, 0 present but the final coding is not chunked, 1 chunked. */
  te: number;
  close: boolean;
  keepAlive: boolean;
  connUpgrade: boolean;
  upgrade: boolean;
  expectContinue: boolean;
  /** A malformed or conflicting framing header. */
  bad: string | null;
}

function connectionTokens(v: string, f: HeaderFacts): void {
  const lower = v.toLowerCase();
  if (lower.includes('close')) f.close = true;
  if (lower.includes('keep-alive')) f.keepAlive = true;
  if (lower.includes('upgrade')) f.connUpgrade = true;
}

/**
 * Request headers beyond framing that a route needs, collected by {@link parseRequestHead} from
 * the head string it decodes anyway. Built once when a route is set (names lower-cased there,
 * not per request); `values` is overwritten by every parse that is given the capture, so read
 * it before the next parse.
 *
 * @example
 * const cap = new HeaderCapture(['X-Canary', 'cookie']);
 * parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nx-canary: 1\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n'), 0, 57, cap);
 * cap.values; // ['1', 'a=1; b=2']
 */
export class HeaderCapture {
  /** Distinct lower-case header names, in the order given. */
  readonly names: readonly string[];
  /**
   * Per name, the value of the last parsed head with optional whitespace trimmed, or null when
   * absent. Repeated lines are combined as RFC 9110 5.3 says (`, `), `Cookie` lines with `; `
   * (RFC 9113 8.2.3), so a repeated header never equals a single value by accident.
   */
  readonly values: Array<string | null>;
  private readonly lengths: number[];
  /** Lower-case first character of any name: most lines are skipped on it alone. */
  private readonly firsts: number[];

  constructor(names: readonly string[]) {
    const distinct = [...new Set(names.map((n) => n.toLowerCase()))];
    this.names = distinct;
    this.lengths = distinct.map((n) => n.length);
    this.values = distinct.map(() => null);
    this.firsts = [...new Set(distinct.map((n) => n.charCodeAt(0)))];
  }

  /** Index of `name` (any case) in `names`, or -1. */
  indexOf(name: string): number {
    return this.names.indexOf(name.toLowerCase());
  }

  /**
   * Fills `values` from the header lines of `head` starting at `pos`. A pass of its own rather
   * than a hook in the framing scan: that scan then stays exactly as fast for the routes that
   * capture nothing, and the framing checks have already rejected malformed lines. @internal
   */
  scan(head: string, pos: number): void {
    const values = this.values;
    for (let i = 0; i < values.length; i++) values[i] = null;
    const end = head.length;
    while (pos < end) {
      let eol = head.indexOf('\r\n', pos);
      if (eol < 0) eol = end;
      if (eol === pos) break;
      let c = head.charCodeAt(pos);
      if (c >= 65 && c <= 90) c |= 0x20;
      if (!this.firsts.includes(c)) { pos = eol + 2; continue; }
      const colon = head.indexOf(':', pos);
      const len = colon - pos;
      for (let i = 0; i < values.length; i++) {
        if (this.lengths[i] !== len || !nameEquals(head, pos, this.names[i]!)) continue;
        const v = trimOws(head, colon + 1, eol);
        const prev = values[i];
        values[i] = prev === null ? v : prev + (len === 6 && this.names[i] === 'cookie' ? '; ' : ', ') + v;
      }
      pos = eol + 2;
    }
  }
}

/** Like {@link nameIs} but exact for every token character, not only letters, digits and `-`. */
function nameEquals(s: string, from: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    let c = s.charCodeAt(from + i);
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** `s[from..to)` without leading and trailing SP/HTAB (RFC 9110 OWS); `trim()` would also eat a latin1 NBSP. */
function trimOws(s: string, from: number, to: number): string {
  while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
  while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
  return s.slice(from, to);
}

/**
 * The value of cookie `name` in a `Cookie` header value (`a=1; b=2`), surrounding double quotes
 * removed, or null. The first pair with that name wins: browsers send the most specific path
 * first. Only the pairs before the match are looked at; nothing else is split or decoded.
 *
 * @example
 * cookieValue('theme=dark; gw_web=2.0.0', 'gw_web'); // '2.0.0'
 */
export function cookieValue(header: string, name: string): string | null {
  const end = header.length;
  let pos = 0;
  while (pos < end) {
    while (pos < end && (header.charCodeAt(pos) === 32 || header.charCodeAt(pos) === 9)) pos++;
    let semi = header.indexOf(';', pos);
    if (semi < 0) semi = end;
    if (semi - pos > name.length && header.charCodeAt(pos + name.length) === 61 && header.startsWith(name, pos)) {
      let from = pos + name.length + 1, to = semi;
      while (to > from && (header.charCodeAt(to - 1) === 32 || header.charCodeAt(to - 1) === 9)) to--;
      if (to - from >= 2 && header.charCodeAt(from) === 34 && header.charCodeAt(to - 1) === 34) { from++; to--; }
      return header.slice(from, to);
    }
    pos = semi + 1;
  }
  return null;
}

/** `X-Forwarded-*` header kinds in {@link ForwardedSpans.lines}. */
export const XF_FOR = 0, XF_PROTO = 1, XF_HOST = 2;

/**
 * Where a request head's `Host` value and `X-Forwarded-For/-Proto/-Host` lines are, recorded by
 * the framing scan of {@link parseRequestHead} when given one (in the same pass: those lines are
 * told apart by their name length, as the framing headers are). Indices are into the buffer
 * passed to the parse; one instance per client connection is overwritten by every parse, so the
 * hot path allocates nothing once its `lines` array has grown.
 *
 * @example
 * const spans = new ForwardedSpans();
 * const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
 * parseRequestHead(buf, 0, buf.length, null, spans);
 * [spans.hostFrom, spans.hostTo]; // [22, 28]: "a.test"
 * spans.lines; // [XF_FOR, 30, 56, 47, 54]: kind, line start, line end after its CRLF, value from, value to
 */
export class ForwardedSpans {
  /** The first `Host` value with optional whitespace trimmed, `buf[hostFrom..hostTo)`; -1 when absent. */
  hostFrom = -1;
  hostTo = -1;
  /** How many `Host` lines the head has: RFC 9112 3.2 wants exactly one in an HTTP/1.1 request. */
  hosts = 0;
  /** Per `X-Forwarded-*` line, in order: kind (`XF_*`), line start, line end (after its CRLF), value from, value to (trimmed). */
  readonly lines: number[] = [];

  /** @internal */
  reset(): void {
    this.hostFrom = -1;
    this.hostTo = -1;
    this.hosts = 0;
    // Most heads have no X-Forwarded-* line; setting an array's length costs even when it is 0 already.
    if (this.lines.length !== 0) this.lines.length = 0;
  }

  /** Records the line `head[pos..eol)` whose value starts after `colon`; `base` maps head indices to buffer indices. @internal */
  add(kind: number, head: string, pos: number, colon: number, eol: number, base: number): void {
    let from = colon + 1, to = eol;
    while (from < to && (head.charCodeAt(from) === 32 || head.charCodeAt(from) === 9)) from++;
    while (to > from && (head.charCodeAt(to - 1) === 32 || head.charCodeAt(to - 1) === 9)) to--;
    if (kind < 0) {
      this.hosts++;
      if (this.hostFrom < 0) { this.hostFrom = base + from; this.hostTo = base + to; }
      return;
    }
    this.lines.push(kind, base + pos, base + eol + 2, base + from, base + to);
  }
}

/**
 * Reads the framing headers of `head` from index `pos` (the start of the first header line);
 * with `fw`, also where `Host` and the `X-Forwarded-*` lines are (`base`: index of `head` in its buffer).
 */
function scanHeaders(head: string, pos: number, f: HeaderFacts, fw: ForwardedSpans | null = null, base = 0, request = false): void {
  const end = head.length;
  while (pos < end) {
    let eol = head.indexOf('\r\n', pos);
    if (eol < 0) eol = end;
    if (eol === pos) break;
    const first = head.charCodeAt(pos);
    if (first === 32 || first === 9) { f.bad = 'obsolete line folding'; return; }
    const colon = head.indexOf(':', pos);
    if (colon < 0 || colon > eol) { f.bad = 'header line without a colon'; return; }
    const len = colon - pos;
    // The proxy forwards heads as received, so a line it reads one way must not be read another way upstream:
    // `Transfer-Encoding : chunked` is no header to it but chunked to a lenient server. Names are tokens (RFC 9110 5.1), as llhttp and nginx insist.
    // (Requests only: a response head is never forwarded to anyone who could read it another way than the client.)
    if (request) {
      if (len === 0) { f.bad = 'empty header name'; return; }
      for (let i = pos; i < colon; i++) if (!isTchar(head.charCodeAt(i))) { f.bad = 'invalid header name'; return; }
    }
    switch (len) {
      case 4:
        if (fw !== null && nameIs(head, pos, 'host')) fw.add(-1, head, pos, colon, eol, base);
        break;
      case 15:
        if (fw !== null && nameIs(head, pos, 'x-forwarded-for')) fw.add(XF_FOR, head, pos, colon, eol, base);
        break;
      case 16:
        if (fw !== null && nameIs(head, pos, 'x-forwarded-host')) fw.add(XF_HOST, head, pos, colon, eol, base);
        break;
      case 14:
        if (nameIs(head, pos, 'content-length')) {
          // Only SP/HTAB are trimmed (`trim()` also eats \v and a latin1 NBSP, which llhttp refuses). A repeated line in a
          // request is refused even with the same value, as llhttp and nginx do, since it is forwarded as received.
          const n = parseLength(trimOws(head, colon + 1, eol));
          if (n < 0 || (f.contentLength >= 0 && (request || f.contentLength !== n))) { f.bad = 'invalid Content-Length'; return; }
          f.contentLength = n;
        }
        break;
      case 17:
        if (nameIs(head, pos, 'transfer-encoding')) {
          // chunked must be the final coding and applied once (RFC 9112 6.1), across repeated lines too: `chunked, chunked`
          // or a second line after `chunked` is refused (llhttp does), not read as chunked.
          if (request && f.te === 1) { f.bad = 'chunked is not the final transfer coding'; return; }
          const v = trimOws(head, colon + 1, eol).toLowerCase();
          const comma = v.lastIndexOf(',');
          const last = comma < 0 ? v : trimOws(v, comma + 1, v.length);
          if (request && comma >= 0 && /(?:^|,)[ \t]*chunked[ \t]*(?:,|$)/.test(v.slice(0, comma))) { f.bad = 'chunked is not the final transfer coding'; return; }
          f.te = last === 'chunked' ? 1 : 0;
        } else if (fw !== null && nameIs(head, pos, 'x-forwarded-proto')) {
          fw.add(XF_PROTO, head, pos, colon, eol, base);
        }
        break;
      case 10:
        if (nameIs(head, pos, 'connection')) connectionTokens(head.slice(colon + 1, eol), f);
        break;
      case 7:
        if (nameIs(head, pos, 'upgrade')) f.upgrade = true;
        break;
      case 6:
        if (nameIs(head, pos, 'expect')) f.expectContinue = trimOws(head, colon + 1, eol).toLowerCase() === '100-continue';
        break;
      default:
        break;
    }
    pos = eol + 2;
  }
}

function newFacts(): HeaderFacts {
  return { contentLength: -1, te: -1, close: false, keepAlive: false, connUpgrade: false, upgrade: false, expectContinue: false, bad: null };
}

/** tchar of RFC 9110 5.6.2: what llhttp accepts in a header name. */
function isTchar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 ||
    c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126;
}

/**
 * A control character other than HTAB, or a CR or LF that is not part of a CRLF: refused anywhere in a request
 * head (RFC 9110 5.5, RFC 9112 2.2). llhttp refuses them too; a proxy that splits lines on CRLF only and forwards
 * bare LF, bare CR or NUL as received would let a lenient server see header lines the proxy never read.
 */
const BAD_HEAD_CHAR = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;

function isTokenChar(c: number): boolean {
  // tchar of RFC 9110 without the rarely used punctuation; enough to reject garbage early.
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 33 || c === 126;
}

/**
 * Parses the request head in `buf[start..end)` (`end` as returned by {@link findHeadEnd}).
 * Throws {@link HeadError} with 400 for a malformed or ambiguous head (both `Content-Length`
 * and `Transfer-Encoding`, a non-chunked final transfer coding) and 505 for an HTTP version
 * other than 1.0 and 1.1. When `capture` is given, its `values` are filled from this head;
 * when `spans` is given, it records where this head's `Host` and `X-Forwarded-*` lines are.
 *
 * @example
 * const h = parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 0, 27);
 * h.method; // 'GET'
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, capture: HeaderCapture | null = null, spans: ForwardedSpans | null = null): RequestHead {
  const head = buf.toString('latin1', start, end - 2);
  const sp1 = head.indexOf(' ');
  if (sp1 <= 0) throw new HeadError(400, 'malformed request line');
  for (let i = 0; i < sp1; i++) if (!isTokenChar(head.charCodeAt(i))) throw new HeadError(400, 'malformed request method');
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  const sp2 = head.lastIndexOf(' ', eol);
  if (sp2 <= sp1 + 1 || eol - sp2 !== 9 || !head.startsWith('HTTP/1.', sp2 + 1)) throw new HeadError(400, 'malformed request line');
  const minor = head.charCodeAt(sp2 + 8);
  if (minor !== 49 && minor !== 48) throw new HeadError(505, 'unsupported HTTP version');
  // A request-target is visible ASCII (RFC 9112 3.2, as llhttp has it); a space or obs-text in it would be split differently upstream.
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = head.charCodeAt(i);
    if (c <= 32 || c >= 127) throw new HeadError(400, 'malformed request target');
  }
  if (BAD_HEAD_CHAR.test(head)) throw new HeadError(400, 'control character or bare CR/LF in the request head');
  const version = minor === 49 ? 11 : 10;
  const f = newFacts();
  if (spans !== null) spans.reset();
  scanHeaders(head, eol + 2, f, spans, start, true);
  if (f.bad !== null) throw new HeadError(400, f.bad);
  if (f.te >= 0 && f.contentLength >= 0) throw new HeadError(400, 'both Content-Length and Transfer-Encoding');
  if (f.te === 0) throw new HeadError(400, 'unsupported Transfer-Encoding');
  if (capture !== null) capture.scan(head, eol + 2);
  return {
    method: head.slice(0, sp1),
    version,
    contentLength: f.contentLength,
    chunked: f.te === 1,
    keepAlive: version === 11 ? !f.close : f.keepAlive && !f.close,
    upgrade: f.upgrade && f.connUpgrade,
    expectContinue: f.expectContinue,
  };
}

/**
 * Parses the response head in `buf[start..end)`. Returns null when the status line is not
 * HTTP/1.x with a three-digit status.
 *
 * @example
 * parseResponseHead(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), 0, 27)?.status; // 204
 */
export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead | null {
  const head = buf.toString('latin1', start, end - 2);
  if (!head.startsWith('HTTP/1.') || head.charCodeAt(8) !== 32) return null;
  const d0 = head.charCodeAt(9) - 48, d1 = head.charCodeAt(10) - 48, d2 = head.charCodeAt(11) - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return null;
  const version = head.charCodeAt(7) === 49 ? 11 : 10;
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  const f = newFacts();
  scanHeaders(head, eol + 2, f);
  // A response whose framing we cannot trust is still forwarded, but its connection is never reused.
  const chunked = f.te === 1;
  return {
    status: d0 * 100 + d1 * 10 + d2,
    version,
    contentLength: f.te >= 0 || f.bad !== null ? -1 : f.contentLength,
    chunked,
    close: f.bad !== null || f.te >= 0 && f.contentLength >= 0 || (version === 11 ? f.close : !f.keepAlive || f.close),
  };
}

const S_SIZE = 0, S_EXT = 1, S_SIZE_LF = 2, S_DATA = 3, S_DATA_CR = 4, S_DATA_LF = 5, S_TRAILER_START = 6, S_TRAILER = 7, S_END_LF = 8, S_DONE = 9;
const S_EXT_NAME = 10, S_EXT_VAL_START = 11, S_EXT_VAL = 12, S_EXT_QUOTED = 13, S_EXT_QUOTED_ESC = 14, S_EXT_VAL_END = 15, S_TRAILER_VALUE = 16, S_TRAILER_LF = 17;

/** A field-value or quoted-string byte: HTAB, SP, VCHAR, obs-text (no CTL, no bare CR or LF). */
function isFieldByte(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Finds the end of a chunked body incrementally, without copying it: feed each received
 * chunk of bytes in order; the scanner walks only the chunk-size lines and trailers.
 *
 * @example
 * const s = new ChunkedScanner();
 * s.feed(Buffer.from('5\r\nhello\r\n0\r\n\r\nNEXT'), 0); // 15: the body ends before "NEXT"
 */
export class ChunkedScanner {
  private state = S_SIZE;
  private size = 0;
  private digits = 0;
  private remaining = 0;

  /** Starts over for a new body. */
  reset(): void {
    this.state = S_SIZE;
    this.size = 0;
    this.digits = 0;
    this.remaining = 0;
  }

  /** Whether the last chunk and trailers have been seen. */
  get done(): boolean { return this.state === S_DONE; }

  /**
   * Consumes `buf[start..]`. Returns the index just past the end of the body when it ends
   * within `buf`, -1 when more bytes are needed. Throws {@link HeadError} (400) on a malformed
   * chunk-size line.
   */
  feed(buf: Buffer, start: number): number {
    const end = buf.length;
    let i = start;
    let state = this.state;
    while (i < end) {
      if (state === S_DATA) {
        const take = Math.min(this.remaining, end - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) state = S_DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (state) {
        case S_SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.digits > 12) throw new HeadError(400, 'chunk size too large');
            this.size = this.size * 16 + h;
          } else if (this.digits === 0) {
            throw new HeadError(400, 'malformed chunk size');
          } else if (c === 13) {
            state = S_SIZE_LF;
          } else if (c === 59) {
            // No whitespace after the size (llhttp refuses `5 ;x` and `5 `); the extension is walked by its grammar
            // (RFC 9112 7.1.1) rather than skipped to the next CR: a bare LF in it ends the line for some servers.
            state = S_EXT;
          } else {
            throw new HeadError(400, 'malformed chunk size');
          }
          break;
        }
        case S_EXT:
          if (!isTchar(c)) throw new HeadError(400, 'malformed chunk extension');
          state = S_EXT_NAME;
          break;
        case S_EXT_NAME:
        case S_EXT_VAL:
          if (c === 13) state = S_SIZE_LF;
          else if (c === 59) state = S_EXT;
          else if (c === 61 && state === S_EXT_NAME) state = S_EXT_VAL_START;
          else if (!isTchar(c)) throw new HeadError(400, 'malformed chunk extension');
          break;
        case S_EXT_VAL_START:
          if (c === 34) state = S_EXT_QUOTED;
          else if (isTchar(c)) state = S_EXT_VAL;
          else throw new HeadError(400, 'malformed chunk extension');
          break;
        case S_EXT_QUOTED:
          if (c === 34) state = S_EXT_VAL_END;
          else if (c === 92) state = S_EXT_QUOTED_ESC;
          else if (!isFieldByte(c)) throw new HeadError(400, 'malformed chunk extension');
          break;
        case S_EXT_QUOTED_ESC:
          if (!isFieldByte(c)) throw new HeadError(400, 'malformed chunk extension');
          state = S_EXT_QUOTED;
          break;
        case S_EXT_VAL_END:
          if (c === 13) state = S_SIZE_LF;
          else if (c === 59) state = S_EXT;
          else throw new HeadError(400, 'malformed chunk extension');
          break;
        case S_SIZE_LF:
          if (c !== 10) throw new HeadError(400, 'malformed chunk size line');
          if (this.size === 0) {
            state = S_TRAILER_START;
          } else {
            this.remaining = this.size;
            state = S_DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case S_DATA_CR:
          if (c !== 13) throw new HeadError(400, 'missing CRLF after chunk data');
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== 10) throw new HeadError(400, 'missing CRLF after chunk data');
          state = S_SIZE;
          break;
        // Trailer lines are header lines (a token, a colon, a field value, CRLF): anything else, such as a request
        // line hidden after `0\r\n` or a bare LF, is refused rather than forwarded for the next server to read.
        case S_TRAILER_START:
          if (c === 13) state = S_END_LF;
          else if (isTchar(c)) state = S_TRAILER;
          else throw new HeadError(400, 'malformed trailer');
          break;
        case S_TRAILER:
          if (c === 58) state = S_TRAILER_VALUE;
          else if (!isTchar(c)) throw new HeadError(400, 'malformed trailer');
          break;
        case S_TRAILER_VALUE:
          if (c === 13) state = S_TRAILER_LF;
          else if (!isFieldByte(c)) throw new HeadError(400, 'malformed trailer');
          break;
        case S_TRAILER_LF:
          if (c !== 10) throw new HeadError(400, 'malformed trailer');
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (c !== 10) throw new HeadError(400, 'malformed chunked body end');
          this.state = S_DONE;
          return i;
        default:
          // Bytes after the end belong to the next message; the caller never feeds them.
          this.state = state;
          return i - 1;
      }
    }
    this.state = state;
    return -1;
  }
}
