/**
 * How the API answers when it cannot serve a request: always the one error shape of
 * src/errors.ts, bounded in size whatever the client sent (an echoed value is cut to 200
 * characters), Fastify's own refusals (bad URL, body, media type) translated into it, and
 * every 5xx written to the orchestrator's log without a header or body of the request.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody, ErrorCode } from '../errors.js';
import { GangwayError, toApiError } from '../errors.js';

/** How many characters of a client's input an error message may echo. */
export const ECHO_LIMIT = 200;
/** Longest string in an error body; longer ones lose their middle. */
const STRING_LIMIT = 5000;
/** Longest list in an error's details; the rest is left out. */
const LIST_LIMIT = 50;

/**
 * `value` as a string of at most `max` characters, cut with an ellipsis.
 *
 * @example
 * clip('a'.repeat(500)) // 'aaa…' (200 a's and '…')
 */
export function clip(value: unknown, max = ECHO_LIMIT): string {
  const text = String(value);
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * Shortens a message for an error body: every quoted part (`"…"`, how messages quote what the
 * client sent) to {@link ECHO_LIMIT} characters, then the whole to {@link STRING_LIMIT},
 * keeping its start and its end (the field and the problem).
 */
function boundText(text: string): string {
  if (text.length <= ECHO_LIMIT) return text;
  // A quoted run of at least ECHO_LIMIT characters; `\\.` takes escapes, so a backslash cannot be read two ways.
  const quoted = new RegExp(`"((?:[^"\\\\]|\\\\.){${ECHO_LIMIT + 1},})"`, 'g');
  const out = text.replace(quoted, (_all, inner: string) => `"${inner.slice(0, ECHO_LIMIT)}…"`);
  if (out.length <= STRING_LIMIT) return out;
  const head = Math.floor(STRING_LIMIT * 0.6);
  const tail = Math.floor(STRING_LIMIT * 0.3);
  return `${out.slice(0, head)}…${out.slice(out.length - tail)}`;
}

function boundValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return boundText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= 6) return '…';
  if (Array.isArray(value)) return value.slice(0, LIST_LIMIT).map((v) => boundValue(v, depth + 1));
  // fromEntries defines each key as its own property: a key named __proto__ cannot set a prototype.
  return Object.fromEntries(Object.entries(value).slice(0, LIST_LIMIT).map(([key, v]) => [boundText(key), boundValue(v, depth + 1)]));
}

/**
 * The error body with every string bounded: a 200 KB value echoed in a message comes back as
 * its first 200 characters and an ellipsis.
 */
export function boundedBody(body: ApiErrorBody): ApiErrorBody {
  const { code, message, hint, details } = body.error;
  return {
    error: {
      code, message: boundText(message),
      ...(hint !== undefined ? { hint: boundText(hint) } : {}),
      ...(details !== undefined ? { details: boundValue(details, 0) as Record<string, unknown> } : {}),
    },
  };
}

/**
 * A refusal at the HTTP level — the URL, the body's size or media type, the Host header —
 * whose status is more precise than its code's (413, 414, 415 carry `invalid_argument`).
 */
export class HttpRefusal extends GangwayError {
  override name = 'HttpRefusal';
  constructor(readonly status: number, code: ErrorCode, message: string, hint?: string) {
    super(code, message, hint);
  }
}

const JSON_HINT = 'send a JSON object with content-type: application/json';

/** Fastify's own refusals, by their error code, in the API's words. */
const FRAMEWORK_REFUSALS: ReadonlyMap<string, () => HttpRefusal> = new Map([
  ['FST_ERR_BAD_URL', () => new HttpRefusal(400, 'invalid_argument', 'path: is not a valid URL (bad percent-encoding)',
    'encode "%" as %25 and any other reserved character with encodeURIComponent')],
  ['FST_ERR_MAX_PARAM_LENGTH', () => new HttpRefusal(414, 'invalid_argument', 'path: a path parameter is longer than 100 characters',
    'ids and names in paths are at most 100 characters')],
  ['FST_ERR_CTP_EMPTY_JSON_BODY', () => new HttpRefusal(400, 'invalid_argument', 'body: is empty but content-type is application/json',
    'send a JSON object, or no content-type header without a body')],
  ['FST_ERR_CTP_INVALID_JSON_BODY', () => new HttpRefusal(400, 'invalid_argument', 'body: is not valid JSON', JSON_HINT)],
  ['FST_ERR_CTP_BODY_TOO_LARGE', () => new HttpRefusal(413, 'invalid_argument', 'body: is larger than the limit of 256 KiB', 'send a smaller body')],
  ['FST_ERR_CTP_INVALID_MEDIA_TYPE', () => new HttpRefusal(415, 'invalid_argument', 'content-type: is not accepted; the API reads JSON only', JSON_HINT)],
  ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', () => new HttpRefusal(400, 'invalid_argument', 'content-length: does not match the body',
    'send the length of the body as it is sent')],
]);

/**
 * The refusal Fastify would answer with `code` (`FST_ERR_CTP_INVALID_JSON_BODY`, …), for the
 * places that refuse the same things themselves (the JSON body parser, the not-found handler).
 */
export function refusalFor(code: 'FST_ERR_MAX_PARAM_LENGTH' | 'FST_ERR_CTP_EMPTY_JSON_BODY' | 'FST_ERR_CTP_INVALID_JSON_BODY'): HttpRefusal {
  return FRAMEWORK_REFUSALS.get(code)!();
}

/**
 * The API's answer to one of Fastify's own client errors (an `FST_` code and a 4xx
 * `statusCode`), or undefined for any other error: a 4xx-looking error from deeper down (an
 * HTTP client's) is a fault of the server, not of the request.
 */
export function frameworkRefusal(err: unknown): HttpRefusal | undefined {
  const e = err as Partial<FastifyError> | null;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || !e.code.startsWith('FST_')) return undefined;
  if (typeof e.statusCode !== 'number' || e.statusCode < 400 || e.statusCode >= 500) return undefined;
  const known = FRAMEWORK_REFUSALS.get(e.code);
  return known ? known() : new HttpRefusal(e.statusCode, codeOfStatus(e.statusCode), `request: ${clip(e.message ?? 'refused')}`);
}

function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 401: return 'unauthorized';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 429: return 'rate_limited';
    default: return 'invalid_argument';
  }
}

/** The status and body of any error a route or hook threw. */
export function errorAnswer(err: unknown): { status: number; body: ApiErrorBody } {
  const refusal = err instanceof HttpRefusal ? err : frameworkRefusal(err);
  if (refusal) return { status: refusal.status, body: toApiError(refusal).body };
  return toApiError(err);
}

/** Sends an error answer in the API's shape, bounded in size. */
export function sendError(reply: FastifyReply, status: number, body: ApiErrorBody): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(boundedBody(body));
}

/**
 * Logs a request that failed on the server's side: method, route pattern, status and the
 * error's type, message and stack. Never the URL's query, headers or body: they may carry
 * tokens, cookies or passwords.
 */
export function logFault(request: FastifyRequest, err: unknown, opts: { status?: number; msg?: string } = {}): void {
  const e = err instanceof Error ? err : new Error(String(err));
  // Only the message and stack, on an object of the error's own class (so the log shows its
  // type): other properties an error carries (details, a cause, a client's options) stay out.
  const logged = Object.create(Object.getPrototypeOf(e) as object) as Error;
  Object.assign(logged, { message: e.message, stack: e.stack });
  request.log.error({
    method: request.method,
    route: request.routeOptions?.url ?? '(no route)',
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    err: logged,
  }, opts.msg ?? 'request failed');
}
