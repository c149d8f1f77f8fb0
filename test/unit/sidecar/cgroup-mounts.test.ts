import { describe, expect, it } from 'vitest';
import { parseKeyedValues } from '../../../src/sidecar/cgroup-file.js';
import { groupDirectory, parseMountInfo, parseProcCgroup } from '../../../src/sidecar/cgroup-mounts.js';

const HYBRID_MOUNTINFO = [
  '24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '26 24 0:24 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '27 26 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate',
  '28 26 0:26 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
  '29 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '30 26 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '31 26 0:29 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '32 26 0:30 / /sys/fs/cgroup/with\\040space rw,relatime - cgroup cgroup rw,blkio',
].join('\n');

describe('cgroup mounts and membership', () => {
  it('finds the unified mount and each v1 controller, co-mounted ones sharing a mount point', () => {
    const m = parseMountInfo(HYBRID_MOUNTINFO);
    expect(m.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(m.v1.get('cpu')?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(m.v1.get('cpuacct')?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(m.v1.get('memory')?.mountPoint).toBe('/sys/fs/cgroup/memory');
    expect(m.v1.get('pids')?.mountPoint).toBe('/sys/fs/cgroup/pids');
    expect(m.v1.get('blkio')?.mountPoint).toBe('/sys/fs/cgroup/with space');
    // name=systemd is a named hierarchy without controllers; rw/xattr are options, not controllers.
    expect([...m.v1.keys()].sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'memory', 'pids']);
  });

  it('reads a pure v2 host and a host without cgroups', () => {
    expect(parseMountInfo('35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate')).toEqual({ unified: { mountPoint: '/sys/fs/cgroup', root: '/' }, v1: new Map() });
    expect(parseMountInfo('')).toEqual({ unified: null, v1: new Map() });
    expect(parseMountInfo('garbage line without separator')).toEqual({ unified: null, v1: new Map() });
  });

  it("places the process's group under the mount, also when the mount shows a sub-group (containers)", () => {
    const m = parseMountInfo('30 26 0:28 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory');
    const memory = m.v1.get('memory')!;
    expect(memory.root).toBe('/docker/abc');
    expect(groupDirectory(memory, '/docker/abc')).toBe('/sys/fs/cgroup/memory');
    expect(groupDirectory(memory, '/docker/abc/app')).toBe('/sys/fs/cgroup/memory/app');
    expect(groupDirectory({ mountPoint: '/sys/fs/cgroup/memory', root: '/' }, '/process_api/x')).toBe('/sys/fs/cgroup/memory/process_api/x');
    expect(groupDirectory({ mountPoint: '/sys/fs/cgroup', root: '/' }, '/')).toBe('/sys/fs/cgroup');
  });

  it("reads the process's groups from /proc/self/cgroup", () => {
    const g = parseProcCgroup('9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/svc\n0::/user.slice/app.scope\n');
    expect(g.unified).toBe('/user.slice/app.scope');
    expect(g.v1.get('memory')).toBe('/process_api/abc');
    expect(g.v1.get('cpu')).toBe('/svc');
    expect(g.v1.get('cpuacct')).toBe('/svc');
    expect(g.v1.has('name=systemd')).toBe(false);
    expect(parseProcCgroup('0::/\n').unified).toBe('/');
    expect(parseProcCgroup('nonsense').unified).toBeNull();
  });

  it('parses key-value interface files, skipping malformed lines', () => {
    const v = parseKeyedValues('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n\nbroken\nnan x\n');
    expect(v.get('oom_kill')).toBe(3);
    expect(v.get('under_oom')).toBe(0);
    expect(v.has('broken')).toBe(false);
    expect(v.has('nan')).toBe(false);
  });
});
