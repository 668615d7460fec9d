/**
 * Which Host headers the API answers: a defence against DNS rebinding, where a page on
 * evil.example makes its own name resolve to 127.0.0.1 and then calls the orchestrator as
 * same-origin requests that carry `Host: evil.example`.
 *
 * Accepted, with any port: an IP address literal (a page served from an address cannot
 * rebind it), `localhost` and names under `.localhost` (loopback by RFC 6761), and the names
 * the server is configured with — the rule of webpack-dev-server's and Vite's `allowedHosts`.
 * A configured name with a leading dot (`.example.com`) accepts the name and its subdomains.
 */
import { isIP } from 'node:net';

/** `name` lower-cased, without brackets (IPv6) or a trailing dot. */
function normalize(name: string): string {
  const lower = name.trim().toLowerCase();
  const unbracketed = lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
  return unbracketed.endsWith('.') ? unbracketed.slice(0, -1) : unbracketed;
}

/** The name part of a Host header (`[::1]:7400` → `::1`), or undefined when it is malformed. */
export function hostName(header: string): string | undefined {
  const value = header.trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(value);
  if (v6) return isIP(v6[1]) === 6 ? v6[1] : undefined;
  const named = /^([a-z0-9_.-]+?)(?::\d{1,5})?$/.exec(value);
  if (!named) return undefined;
  return named[1].endsWith('.') ? named[1].slice(0, -1) : named[1];
}

/**
 * Returns a predicate over Host header values. A request without one (HTTP/1.0; browsers
 * always send it) is accepted.
 *
 * @example
 * const ok = hostChecker(['gangway.example.com']);
 * ok('127.0.0.1:7400');          // true
 * ok('localhost:7400');          // true
 * ok('gangway.example.com');     // true
 * ok('evil.example');            // false
 */
export function hostChecker(allowed: readonly string[]): (host: string | undefined) => boolean {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of allowed) {
    const name = normalize(entry);
    if (name === '') continue;
    if (name.startsWith('.')) {
      suffixes.push(name);
      exact.add(name.slice(1));
    } else {
      exact.add(name);
    }
  }
  return (host) => {
    if (host === undefined || host === '') return host === undefined;
    const name = hostName(host);
    if (name === undefined) return false;
    if (isIP(name) !== 0) return true;
    if (name === 'localhost' || name.endsWith('.localhost')) return true;
    return exact.has(name) || suffixes.some((s) => name.endsWith(s));
  };
}
