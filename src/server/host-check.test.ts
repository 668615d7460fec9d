import { describe, expect, it } from 'vitest';
import { hostChecker, hostName } from './host-check.js';

describe('hostName', () => {
  it('takes the name out of a Host header, or undefined when malformed', () => {
    expect(['127.0.0.1:7400', 'LocalHost', 'example.com.', '[::1]:80', '[::ffff:127.0.0.1]', '[::1', 'a b', 'x:y', '[zz]', 'a:1:2', 'é.example'].map(hostName))
      .toEqual(['127.0.0.1', 'localhost', 'example.com', '::1', '::ffff:127.0.0.1', undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('hostChecker', () => {
  it('accepts IP addresses, localhost and .localhost names with any port, and nothing else without configured names', () => {
    const ok = hostChecker([]);
    expect(['127.0.0.1', '127.0.0.1:7400', '192.168.1.20:80', '[::1]:7400', '[fe80::1]', 'localhost:3', 'app.localhost', undefined].map(ok)).toEqual(Array(8).fill(true));
    expect(['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', '', 'evil.example:7400'].map(ok)).toEqual(Array(5).fill(false));
  });

  it('accepts configured names, case-insensitively, and subdomains of a name with a leading dot', () => {
    const ok = hostChecker(['Gangway.Example.com', '.corp.example', '[::1]', '']);
    expect(['gangway.example.com:443', 'GANGWAY.EXAMPLE.COM.', 'corp.example', 'a.corp.example', 'a.b.corp.example:1'].map(ok)).toEqual(Array(5).fill(true));
    expect(['example.com', 'x.gangway.example.com', 'evilcorp.example', 'corp.example.evil'].map(ok)).toEqual(Array(4).fill(false));
  });
});
