import { describe, expect, it } from 'vitest';
import { parseAgentArgs } from './main.js';

describe('parseAgentArgs', () => {
  it('reads the options in both spellings', () => {
    expect(parseAgentArgs(['--state-dir', '/s', '--metrics-port', '9464', '--host=0.0.0.0', '--log-file', '/s/a.log']))
      .toEqual({ stateDir: '/s', metricsPort: 9464, host: '0.0.0.0', logFile: '/s/a.log' });
  });

  it('reads the forwarding options: headers off, and each trusted peer in order', () => {
    expect(parseAgentArgs(['--state-dir', '/s', '--metrics-port', '0', '--no-forwarded-headers', '--trust-forwarded', '10.0.0.0/8', '--trust-forwarded=::1']))
      .toEqual({ stateDir: '/s', metricsPort: 0, forwardedHeaders: false, trustForwarded: ['10.0.0.0/8', '::1'] });
    expect(() => parseAgentArgs(['--state-dir', '/s', '--metrics-port', '0', '--trust-forwarded', 'lan'])).toThrow('--trust-forwarded: "lan" is not an IP address or CIDR range');
    expect(() => parseAgentArgs(['--no-forwarded-headers=yes'])).toThrow('--no-forwarded-headers takes no value');
  });

  it('names what is wrong', () => {
    expect(() => parseAgentArgs(['--metrics-port', '1'])).toThrow('--state-dir is required');
    expect(() => parseAgentArgs(['--state-dir', '/s'])).toThrow('--metrics-port is required');
    expect(() => parseAgentArgs(['--state-dir', '/s', '--metrics-port', 'x'])).toThrow('--metrics-port must be a port number (0-65535), got "x"');
    expect(() => parseAgentArgs(['--state-dir'])).toThrow('--state-dir needs a value');
    expect(() => parseAgentArgs(['--verbose'])).toThrow('unknown option "--verbose"');
  });
});
