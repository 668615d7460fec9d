import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, canonicalJson, eventHash } from './event-chain.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: { y: 2, x: 1 } }, 1], a: 'x', c: { } }))
      .toBe('{"a":"x","b":[3,{"a":{"x":1,"y":2},"z":1},1],"c":{}}');
  });

  it('gives the same text for the same value built in any key order', () => {
    const a = { id: 1, data: { service: 'web', environment: 'prod', steps: [{ title: 't', idx: 0 }] } };
    const b = { data: { steps: [{ idx: 0, title: 't' }], environment: 'prod', service: 'web' }, id: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).not.toBe(JSON.stringify(a));
  });

  it('orders keys by UTF-16 code unit (RFC 8785), not by code point or locale', () => {
    // U+1F600 is stored as the surrogates D83D DE00, which sort before U+FFFD; "Z" before "a"; "é" after "z".
    expect(canonicalJson({ '\uFFFD': 1, '\u{1F600}': 2, a: 3, Z: 4, 'é': 5, z: 6, '': 7 }))
      .toBe('{"":7,"Z":4,"a":3,"z":6,"é":5,"😀":2,"�":1}');
  });

  it('writes scalars as JSON.stringify does', () => {
    expect(canonicalJson([null, true, false, 0, -0, 1.5, 1e21, 1e-7, 'a"b\\c\n\u0001', '✓'])).toBe('[null,true,false,0,0,1.5,1e+21,1e-7,"a\\"b\\\\c\\n\\u0001","✓"]');
  });

  it('leaves out undefined members and writes undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1], c: null })).toBe('{"b":[null,1],"c":null}');
  });

  it('refuses what JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(new TypeError('canonicalJson: NaN is not a JSON number'));
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(new TypeError('canonicalJson: Infinity is not a JSON number'));
    expect(() => canonicalJson({ n: 1n })).toThrow(new TypeError('canonicalJson: a bigint is not a JSON value'));
    expect(() => canonicalJson({ f: () => 1 })).toThrow(new TypeError('canonicalJson: a function is not a JSON value'));
    expect(() => canonicalJson(cyclic)).toThrow(new TypeError('canonicalJson: the value contains a cycle'));
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe('{"a":{"k":1},"b":[{"k":1}]}');
  });
});

describe('eventHash', () => {
  const event = { id: 7, deploymentId: 'dep_1', at: 1_700_000_000_000, type: 'step.started', data: { title: 'start', idx: 0 } };

  it('is sha256 of the previous hash, a newline and the canonical content', () => {
    const text = `${GENESIS_HASH}\n{"at":1700000000000,"data":{"idx":0,"title":"start"},"deploymentId":"dep_1","id":7,"type":"step.started"}`;
    expect(eventHash(GENESIS_HASH, event)).toBe(createHash('sha256').update(text).digest('hex'));
    expect(GENESIS_HASH).toBe('0000000000000000000000000000000000000000000000000000000000000000');
  });

  it('changes with every covered field and with the previous hash, and ignores the others', () => {
    const base = eventHash(GENESIS_HASH, event);
    expect(eventHash('a'.repeat(64), event)).not.toBe(base);
    for (const changed of [{ id: 8 }, { deploymentId: null }, { at: 1 }, { type: 'step.failed' }, { data: { idx: 1, title: 'start' } }]) {
      expect(eventHash(GENESIS_HASH, { ...event, ...changed })).not.toBe(base);
    }
    expect(eventHash(GENESIS_HASH, { ...event, hash: 'x', prevHash: 'y' } as typeof event)).toBe(base);
  });
});
