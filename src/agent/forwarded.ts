/**
 * The forwarding headers the agent's proxy adds to every request it forwards, as Traefik, Caddy
 * and kamal-proxy do: `X-Forwarded-For` (the client's address), `X-Forwarded-Proto` (`http`: the
 * proxy speaks plain HTTP) and `X-Forwarded-Host` (the request's `Host`).
 *
 * A client may send those headers itself, and an app that trusts them would log, rate-limit or
 * authorise by a forged address. So incoming `X-Forwarded-*` lines are kept (the address appended
 * to `X-Forwarded-For`) only when the TCP peer is in the trust list (a load balancer or proxy in
 * front of the agent); from anyone else they are removed and replaced with what the agent saw.
 *
 * Why this shape: the trust list becomes a `net.BlockList` once per hub, the peer is checked once
 * per client connection, and each request head is rewritten with one buffer allocation from the
 * spans the framing scan recorded anyway (src/agent/http1.ts) — no header parsing of its own.
 */
import net from 'node:net';
import { GangwayError } from '../errors.js';
import { ForwardedSpans, XF_FOR, XF_HOST, XF_PROTO } from './http1.js';

/**
 * Why `entry` is not an IP address or CIDR range (IPv4 or IPv6), naming it, or null when it is
 * one. A zone index (`fe80::1%eth0`) is refused: peers are matched without one.
 *
 * @example
 * trustEntryProblem('10.0.0.0/8'); // null
 * trustEntryProblem('10.0.0.0/33'); // '"10.0.0.0/33" is not a CIDR range: an IPv4 prefix length is 0 to 32'
 */
export function trustEntryProblem(entry: string): string | null {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const family = net.isIP(address);
  if (family === 0 || address.includes('%')) return `${JSON.stringify(entry)} is not an IP address or CIDR range`;
  if (slash < 0) return null;
  const prefix = entry.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `${JSON.stringify(entry)} is not a CIDR range: an IPv${family} prefix length is 0 to ${max}`;
  return null;
}

/**
 * A trust list compiled into a `net.BlockList`. IPv4 ranges match IPv4-mapped IPv6 peers
 * (`::ffff:10.1.2.3`), as a dual-stack listener reports IPv4 clients, and the other way round.
 *
 * @example
 * const trust = new TrustList(['127.0.0.1/32', '10.0.0.0/8', '::1']);
 * trust.has('::ffff:10.1.2.3'); // true
 * trust.has('192.168.1.1');     // false
 */
export class TrustList {
  private readonly list = new net.BlockList();
  /** No entries: every peer is untrusted, without a lookup. */
  readonly empty: boolean;

  /** Throws an `invalid_argument` GangwayError naming the entry that is not an address or range. */
  constructor(entries: readonly string[]) {
    entries.forEach((entry, i) => {
      const problem = trustEntryProblem(entry);
      if (problem !== null) throw new GangwayError('invalid_argument', `trustForwarded[${i}]: ${problem}`);
      const slash = entry.indexOf('/');
      const address = slash < 0 ? entry : entry.slice(0, slash);
      const type = net.isIPv4(address) ? 'ipv4' : 'ipv6';
      if (slash < 0) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(entry.slice(slash + 1)), type);
    });
    this.empty = entries.length === 0;
  }

  /** Whether the peer address (as `socket.remoteAddress` gives it) is in the list. */
  has(address: string | undefined): boolean {
    if (this.empty || address === undefined) return false;
    const family = net.isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

const MAPPED_V4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** The client address as apps expect it in `X-Forwarded-For`: an IPv4-mapped IPv6 address as plain IPv4. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return '';
  const m = MAPPED_V4.exec(remote);
  return m === null ? remote : m[1]!;
}

const XFH_NAME = Buffer.from('X-Forwarded-Host: ', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
/** Below this many bytes a copy loop beats `Buffer#copy` (measured on Node 20: about 60 ns per call, 2 ns per looped byte). */
const SHORT_COPY = 24;

/**
 * Rewrites the request heads of one client connection. The peer is looked up in the trust list
 * once, and the lines that only depend on it (`X-Forwarded-For: <client>` and
 * `X-Forwarded-Proto: http`) are encoded once, so a request from an untrusted peer costs one
 * buffer allocation and a few copies.
 *
 * @example
 * const w = new ForwardedWriter(new TrustList([]), '127.0.0.1');
 * const buf = Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
 * parseRequestHead(buf, 0, buf.length, null, w.spans);
 * w.rewrite(buf, buf.length, buf.length).toString('latin1');
 * // 'GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a.test\r\n\r\n'
 */
export class ForwardedWriter {
  /** Pass to `parseRequestHead` so it records where the lines to rewrite are. */
  readonly spans = new ForwardedSpans();
  /** The peer is in the trust list: its `X-Forwarded-*` are kept and its address appended. */
  readonly trusted: boolean;
  readonly client: string;
  /** `X-Forwarded-For: <client>\r\nX-Forwarded-Proto: http\r\n`. */
  private readonly fixed: Buffer;
  /**
   * What the last rewritten head got before its end: {@link fixed}, `X-Forwarded-Host: <host>\r\n`
   * when it had a Host, and the CRLF that ends the head. Clients send the same Host on every
   * request of a connection, so this is built about once per connection.
   */
  private added: Buffer;
  /** Where the Host value is in {@link added}, and its length (-1: the head had no Host). */
  private addedHostAt = 0;
  private addedHostLength = -1;

  constructor(trust: TrustList, remoteAddress: string | undefined) {
    this.trusted = trust.has(remoteAddress);
    this.client = clientAddress(remoteAddress);
    // Without a peer address (the socket is already gone) there is nothing true to say about the client.
    this.fixed = Buffer.from(`${this.client === '' ? '' : `X-Forwarded-For: ${this.client}\r\n`}X-Forwarded-Proto: http\r\n`, 'latin1');
    this.added = Buffer.concat([this.fixed, CRLF]);
  }

  /**
   * The bytes to send upstream for `buf[0..end)`: the request head `buf[0..headEnd)` (parsed with
   * {@link spans}) with its `X-Forwarded-*` lines removed or kept, the new ones added before the
   * CRLF that ends it, then the body bytes `buf[headEnd..end)` unchanged.
   */
  rewrite(buf: Buffer, headEnd: number, end: number): Buffer {
    const spans = this.spans;
    const lines = spans.lines;
    const tail = headEnd - 2;
    if (!this.trusted || lines.length === 0) {
      // Every incoming X-Forwarded-* line goes; the fixed lines and the Host copy come in.
      const added = this.addedFor(buf, spans.hostFrom, spans.hostTo);
      let removed = 0;
      for (let i = 0; i < lines.length; i += 5) removed += lines[i + 2]! - lines[i + 1]!;
      const out = Buffer.allocUnsafe(tail - removed + added.length + end - headEnd);
      let o = lines.length === 0 ? copyBytes(buf, 0, tail, out, 0) : copyWithout(buf, tail, lines, -1, out);
      o = copyBytes(added, 0, added.length, out, o);
      if (end > headEnd) copyBytes(buf, headEnd, end, out, o);
      return out;
    }
    return this.rewriteTrusted(buf, tail, end);
  }

  /** {@link added} for a head whose Host value is `buf[from..to)` (`from` -1: none), rebuilt when the Host changed. */
  private addedFor(buf: Buffer, from: number, to: number): Buffer {
    const len = from < 0 ? -1 : to - from;
    if (len === this.addedHostLength) {
      const added = this.added;
      let i = 0;
      for (const at = this.addedHostAt; i < len; i++) if (buf[from + i] !== added[at + i]) break;
      if (i >= len) return added;
    }
    this.added = len < 0 ? Buffer.concat([this.fixed, CRLF]) : Buffer.concat([this.fixed, XFH_NAME, buf.subarray(from, to), CRLF, CRLF]);
    this.addedHostAt = this.fixed.length + XFH_NAME.length;
    this.addedHostLength = len;
    return this.added;
  }

  /** A trusted peer sent some `X-Forwarded-*`: its `X-Forwarded-For` is extended, its proto and host kept. */
  private rewriteTrusted(buf: Buffer, tail: number, end: number): Buffer {
    const spans = this.spans;
    const lines = spans.lines;
    let chain = '';
    let removed = 0;
    let hasProto = false, hasHost = false;
    for (let i = 0; i < lines.length; i += 5) {
      const kind = lines[i]!;
      if (kind === XF_FOR) {
        removed += lines[i + 2]! - lines[i + 1]!;
        // Repeated lines are one list (RFC 9110 5.3); an empty one adds nothing to it.
        if (lines[i + 4]! > lines[i + 3]!) chain += (chain === '' ? '' : ', ') + buf.toString('latin1', lines[i + 3]!, lines[i + 4]!);
      } else if (kind === XF_PROTO) {
        hasProto = true;
      } else if (kind === XF_HOST) {
        hasHost = true;
      }
    }
    if (this.client !== '') chain += (chain === '' ? '' : ', ') + this.client;
    let text = chain === '' ? '' : `X-Forwarded-For: ${chain}\r\n`;
    if (!hasProto) text += 'X-Forwarded-Proto: http\r\n';
    if (!hasHost && spans.hostFrom >= 0) text += `X-Forwarded-Host: ${buf.toString('latin1', spans.hostFrom, spans.hostTo)}\r\n`;
    const out = Buffer.allocUnsafe(end - removed + text.length);
    let o = copyWithout(buf, tail, lines, XF_FOR, out);
    o += out.write(text, o, 'latin1');
    buf.copy(out, o, tail, end);
    return out;
  }
}

/** Copies `src[from..to)` to `dst` at `at`; returns the index after the copy. */
function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  if (to - from >= SHORT_COPY) return at + src.copy(dst, at, from, to);
  while (from < to) dst[at++] = src[from++]!;
  return at;
}

/** Copies `buf[0..to)` into `out` without the recorded lines of `kind` (-1: of every kind); returns the bytes written. */
function copyWithout(buf: Buffer, to: number, lines: readonly number[], kind: number, out: Buffer): number {
  let o = 0;
  let from = 0;
  for (let i = 0; i < lines.length; i += 5) {
    if (kind >= 0 && lines[i] !== kind) continue;
    o = copyBytes(buf, from, lines[i + 1]!, out, o);
    from = lines[i + 2]!;
  }
  return copyBytes(buf, from, to, out, o);
}
