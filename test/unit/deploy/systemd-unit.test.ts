import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

/**
 * The systemd unit's production settings, directive by directive. systemd-analyze verify runs on
 * it in test/integration/packaging/install-package.test.ts (it needs the installed bin).
 */

const unit = await readFile(new URL('../../../deploy/systemd/switchyard.service', import.meta.url), 'utf8');
/** Each "Key=value" line of the [Service] section. */
const service = unit
  .slice(unit.indexOf('[Service]'), unit.indexOf('[Install]'))
  .split('\n')
  .filter((l) => /^[A-Za-z]+=/.test(l))
  .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const);
const values = (key: string) => service.filter(([k]) => k === key).map(([, v]) => v);

describe('deploy/systemd/switchyard.service', () => {
  it('runs as an unprivileged user allowed to bind ports below 1024, with a state folder and many file descriptors', () => {
    expect(values('DynamicUser')).toEqual(['yes']);
    expect(values('User')).toEqual([]);
    expect(values('AmbientCapabilities')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(values('CapabilityBoundingSet')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(values('StateDirectory')).toEqual(['switchyard']);
    expect(Number(values('LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
  });

  it('checks the config before start, starts it with --config, reloads with SIGHUP and stops with SIGTERM', () => {
    expect(values('ExecStartPre')).toEqual(['/opt/switchyard/bin/switchyard check --config ${SWITCHYARD_CONFIG}']);
    expect(values('ExecStart')).toEqual(['/opt/switchyard/bin/switchyard start --config ${SWITCHYARD_CONFIG}']);
    expect(values('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(values('KillSignal')).toEqual(['SIGTERM']);
  });

  it('is sandboxed: read-only system, no privilege gain, no home, private /tmp and devices', () => {
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['RestrictSUIDSGID', 'yes'],
    ] as const) {
      expect(values(key), key).toEqual([value]);
    }
    expect(values('RestrictAddressFamilies')).toEqual(['AF_INET AF_INET6 AF_UNIX']);
  });
});
