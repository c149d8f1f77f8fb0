import { describe, expect, it } from 'vitest';
import { hasRequestBody, hostOf } from '../../../src/proxy/request-target.js';

describe('hostOf', () => {
  it('lower-cases and drops port and trailing dot', () => {
    expect(hostOf('Example.COM')).toBe('example.com');
    expect(hostOf('example.com:8080')).toBe('example.com');
    expect(hostOf('example.com.')).toBe('example.com');
    expect(hostOf('example.com.:80')).toBe('example.com');
    expect(hostOf('[::1]:8080')).toBe('[::1]');
    expect(hostOf('[::1]')).toBe('[::1]');
    expect(hostOf('')).toBe('');
    expect(hostOf(undefined)).toBe('');
  });
});

describe('hasRequestBody', () => {
  it('is true for a non-zero length or any transfer coding', () => {
    expect(hasRequestBody(undefined, undefined)).toBe(false);
    expect(hasRequestBody('0', undefined)).toBe(false);
    expect(hasRequestBody('12', undefined)).toBe(true);
    expect(hasRequestBody(undefined, 'chunked')).toBe(true);
  });
});
