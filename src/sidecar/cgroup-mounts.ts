/**
 * Where the cgroup hierarchies are and where this process sits in them, from
 * /proc/self/mountinfo and /proc/self/cgroup. Pure parsing, so every layout is testable.
 */

/** One mounted hierarchy: where it is mounted and which group of it the mount shows (mountinfo "root"). */
export interface CgroupMount {
  mountPoint: string;
  /** "/" normally; a container often sees its own group mounted, e.g. "/docker/<id>". */
  root: string;
}

export interface CgroupMounts {
  /** cgroup2 mount, if any. */
  unified: CgroupMount | null;
  /** v1 controller name → its mount (co-mounted controllers share one, e.g. cpu,cpuacct). */
  v1: Map<string, CgroupMount>;
}

/**
 * The directory of a process's group: its path from /proc/self/cgroup, made relative to the
 * group the mount shows (the mount's root), under the mount point.
 */
export function groupDirectory(mount: CgroupMount, groupPath: string): string {
  let relative = groupPath;
  if (mount.root !== '/' && (groupPath === mount.root || groupPath.startsWith(`${mount.root}/`))) relative = groupPath.slice(mount.root.length);
  const dir = `${mount.mountPoint.replace(/\/+$/, '')}/${relative.replace(/^\/+/, '')}`;
  return dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
}

/** v1 controller names; the other super-options of a cgroup mount (rw, xattr, name=..., clone_children) are not controllers. */
const V1_CONTROLLER_NAMES = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc']);

/** mountinfo fields: id parent major:minor root mountpoint options - fstype source superoptions */
export function parseMountInfo(text: string): CgroupMounts {
  const mounts: CgroupMounts = { unified: null, v1: new Map() };
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    const mount: CgroupMount = { mountPoint: unescapeMountPath(left[4] ?? ''), root: unescapeMountPath(left[3] ?? '/') };
    const fsType = right[0];
    if (fsType === 'cgroup2') {
      mounts.unified ??= mount;
    } else if (fsType === 'cgroup') {
      for (const option of (right[2] ?? '').split(',')) {
        if (V1_CONTROLLER_NAMES.has(option) && !mounts.v1.has(option)) mounts.v1.set(option, mount);
      }
    }
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export interface ProcessCgroups {
  /** The v2 group path ("0::/path"), if listed. */
  unified: string | null;
  /** v1 controller → group path. */
  v1: Map<string, string>;
}

/** /proc/self/cgroup lines: "hierarchy-id:controller,list:/path". */
export function parseProcCgroup(text: string): ProcessCgroups {
  const groups: ProcessCgroups = { unified: null, v1: new Map() };
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') groups.unified = path;
    else for (const c of controllers.split(',')) if (c !== '' && !c.startsWith('name=')) groups.v1.set(c, path);
  }
  return groups;
}
