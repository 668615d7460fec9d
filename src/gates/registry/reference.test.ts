import { describe, expect, it } from 'vitest';
import {
  formatImageReference, InvalidImageReferenceError, parseImageReference, parseRepositoryName, pinnedReference,
} from './reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseImageReference', () => {
  it.each([
    ['127.0.0.1:5000/web:1.4.2', { registry: '127.0.0.1:5000', repository: 'web', tag: '1.4.2', digest: null }],
    ['registry.example.com/shop/web/api:v2-rc.1', { registry: 'registry.example.com', repository: 'shop/web/api', tag: 'v2-rc.1', digest: null }],
    [`127.0.0.1:5000/web@${D}`, { registry: '127.0.0.1:5000', repository: 'web', tag: null, digest: D }],
    [`127.0.0.1:5000/web:1.0@${D}`, { registry: '127.0.0.1:5000', repository: 'web', tag: '1.0', digest: D }],
    ['127.0.0.1:5000/web', { registry: '127.0.0.1:5000', repository: 'web', tag: 'latest', digest: null }],
    ['localhost/web:1', { registry: 'localhost', repository: 'web', tag: '1', digest: null }],
    ['[::1]:5000/web:1', { registry: '[::1]:5000', repository: 'web', tag: '1', digest: null }],
    ['ghcr.io/acme/my_app__x-y:main-abc123', { registry: 'ghcr.io', repository: 'acme/my_app__x-y', tag: 'main-abc123', digest: null }],
    // Docker Hub shorthands.
    ['nginx', { registry: 'docker.io', repository: 'library/nginx', tag: 'latest', digest: null }],
    ['nginx:1.27', { registry: 'docker.io', repository: 'library/nginx', tag: '1.27', digest: null }],
    ['grafana/grafana:11.0.0', { registry: 'docker.io', repository: 'grafana/grafana', tag: '11.0.0', digest: null }],
  ])('%s', (input, expected) => {
    expect(parseImageReference(input)).toEqual(expected);
  });

  it.each([
    ['', 'invalid image reference "": it is empty'],
    ['127.0.0.1:5000/web 1', 'invalid image reference "127.0.0.1:5000/web 1": it contains white space'],
    ['127.0.0.1:5000/Web:1', 'invalid image reference "127.0.0.1:5000/Web:1": "Web" is not a valid repository path component (lower-case letters, digits, and . _ - between them)'],
    ['127.0.0.1:5000/web:-bad', 'invalid image reference "127.0.0.1:5000/web:-bad": "-bad" is not a valid tag'],
    ['127.0.0.1:5000/web@sha256:abc', 'invalid image reference "127.0.0.1:5000/web@sha256:abc": "sha256:abc" is not a digest (algorithm:hex)'],
    [`127.0.0.1:5000/web@sha256:${'AB'.repeat(32)}`, `invalid image reference "127.0.0.1:5000/web@sha256:${'AB'.repeat(32)}": a sha256 digest has 64 lower-case hex digits`],
    ['127.0.0.1:5000/', 'invalid image reference "127.0.0.1:5000/": it names no repository'],
    ['a_b.c:5000/web', 'invalid image reference "a_b.c:5000/web": "a_b.c:5000" is not a registry host[:port]'],
    ['127.0.0.1:5000//web', 'invalid image reference "127.0.0.1:5000//web": "" is not a valid repository path component (lower-case letters, digits, and . _ - between them)'],
  ])('rejects %j', (input, message) => {
    let caught: unknown;
    try {
      parseImageReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidImageReferenceError);
    expect((caught as InvalidImageReferenceError).message).toBe(message);
    expect((caught as InvalidImageReferenceError).code).toBe('invalid_argument');
  });
});

describe('parseRepositoryName', () => {
  it('splits host and path', () => {
    expect(parseRepositoryName('127.0.0.1:5000/shop/web')).toEqual({ registry: '127.0.0.1:5000', repository: 'shop/web' });
  });
  it('refuses a digest', () => {
    expect(() => parseRepositoryName(`127.0.0.1:5000/web@${D}`)).toThrow(`invalid image reference "127.0.0.1:5000/web@${D}": a repository name has no digest`);
  });
});

describe('formatting', () => {
  it('writes a reference back as parsed', () => {
    for (const s of ['127.0.0.1:5000/web:1.4.2', `127.0.0.1:5000/web@${D}`, `127.0.0.1:5000/web:1@${D}`]) {
      expect(formatImageReference(parseImageReference(s))).toBe(s);
    }
  });
  it('pins without the tag', () => {
    expect(pinnedReference(parseImageReference('127.0.0.1:5000/shop/web:1.4.2'), D)).toBe(`127.0.0.1:5000/shop/web@${D}`);
  });
});
