import { writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

// A setting of an earlier version that is still accepted is named in a warning at start and at
// reload, and changes nothing else.

describe('removed settings at start and reload', () => {
  let proxy: ProxyHarness | null = null;
  afterEach(async () => {
    await proxy?.close();
    proxy = null;
  });

  const warnings = (p: ProxyHarness) => p.log.lines.filter((l) => l.level === 'warn' && l.field === 'logging.accessLogThread');

  it('starts with logging.accessLogThread set, warns once, and warns again on a reload that keeps it', async () => {
    const config = { logging: { level: 'info', accessLogThread: true } };
    proxy = await startProxy({ config });
    expect(warnings(proxy)).toHaveLength(1);
    expect(String(warnings(proxy)[0]!.msg)).toMatch(/logging\.accessLogThread is removed and ignored.*delete the setting/);

    await proxy.app.reload();
    expect(warnings(proxy)).toHaveLength(2);

    const current = { listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }], admin: { address: '127.0.0.1', port: 0 }, registry: { type: 'file', path: 'services.yaml', watch: true, debounce: '20ms' }, logging: { level: 'info' } };
    await writeFile(proxy.configFile, stringify(current));
    await proxy.app.reload();
    expect(warnings(proxy)).toHaveLength(2);
  });

  it('does not warn when the setting is absent', async () => {
    proxy = await startProxy({ config: { logging: { level: 'info' } } });
    expect(warnings(proxy)).toHaveLength(0);
  });
});
