import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from '../../../src/config/loopback-address.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { AdminServer } from '../../../src/admin/admin-server.js';
import { silentLogger } from '../../../src/observability/logger.js';
import type { AdminView } from '../../../src/admin/admin-view.js';

describe('admin listener exposure', () => {
  it('knows loopback addresses from addresses reachable by other hosts', () => {
    for (const a of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', 'localhost', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1']) expect(isLoopbackAddress(a), a).toBe(false);
  });

  it('rejects a non-loopback admin address without a token, naming the field and the fix', () => {
    expect(() => parseConfigText('c.yaml', 'admin:\n  address: 0.0.0.0\n')).toThrow(/c\.yaml.*admin\.token: is required when the admin listener is not on a loopback address/);
    expect(() => parseConfigText('c.yaml', 'admin:\n  address: 0.0.0.0\n  token: short\n')).toThrow(/admin\.token: must be at least 16 characters/);
    expect(parseConfigText('c.yaml', 'admin:\n  address: 0.0.0.0\n  token: 0123456789abcdef\n').admin.token).toBe('0123456789abcdef');
    expect(parseConfigText('c.yaml', 'admin:\n  address: 0.0.0.0\n  enabled: false\n').admin.enabled).toBe(false);
    expect(parseConfigText('c.yaml', '{}').admin.token).toBeUndefined();
  });

  it('refuses to start a non-loopback admin listener without a token (before binding)', async () => {
    const server = new AdminServer({} as AdminView, { logger: silentLogger() });
    await expect(server.listen(0, '0.0.0.0')).rejects.toThrow(/reachable from other hosts: set admin.token/);
    expect(server.server.listening).toBe(false);
  });
});
