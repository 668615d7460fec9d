import { describe, expect, it } from 'vitest';
import { boundedBody, clip, errorAnswer, frameworkRefusal } from './error-reply.js';
import { GangwayError } from '../errors.js';

describe('clip', () => {
  it('keeps 200 characters and marks the cut', () => {
    expect([clip('short'), clip('x'.repeat(200)), clip('x'.repeat(201)), clip(42), clip('abcdef', 3)]).toEqual(['short', 'x'.repeat(200), `${'x'.repeat(200)}…`, '42', 'abc…']);
  });
});

describe('boundedBody', () => {
  it('cuts quoted input in messages to 200 characters, keeping the rest of the sentence', () => {
    const body = boundedBody({ error: { code: 'invalid_argument', message: `roles: "${'e'.repeat(300_000)}" is not an environment name`, hint: 'short' } });
    expect(body).toEqual({ error: { code: 'invalid_argument', message: `roles: "${'e'.repeat(200)}…" is not an environment name`, hint: 'short' } });
  });

  it('bounds every string of the details, and long lists', () => {
    const body = boundedBody({ error: { code: 'invalid_argument', message: 'm', details: { list: Array.from({ length: 80 }, (_, i) => i), text: 'y'.repeat(9000) } } });
    const details = body.error.details as { list: number[]; text: string };
    expect([details.list.length, details.text.length, details.text.slice(2995, 3005)]).toEqual([50, 4501, 'yyyyy…yyyy']);
  });
});

describe('frameworkRefusal and errorAnswer', () => {
  it('translates Fastify\'s own client errors only', () => {
    expect(frameworkRefusal({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413, message: 'Request body is too large' })?.status).toBe(413);
    expect(frameworkRefusal({ code: 'FST_ERR_SOMETHING_NEW', statusCode: 409, message: 'x'.repeat(500) })).toMatchObject({ status: 409, code: 'conflict', message: `request: ${'x'.repeat(200)}…` });
    // A 4xx from an HTTP client deep in the engine is the server's fault.
    expect(frameworkRefusal(Object.assign(new Error('registry said 404'), { statusCode: 404 }))).toBeUndefined();
    expect(frameworkRefusal({ code: 'FST_ERR_INTERNAL', statusCode: 500 })).toBeUndefined();
  });

  it('answers 500 without internals for anything unexpected, the mapped status for a GangwayError', () => {
    expect(errorAnswer(new Error('SQLITE_BUSY at /secret'))).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error' } } });
    expect(errorAnswer(new GangwayError('blocked', 'frozen'))).toEqual({ status: 423, body: { error: { code: 'blocked', message: 'frozen', hint: undefined, details: undefined } } });
  });
});
