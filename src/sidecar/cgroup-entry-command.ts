/**
 * The command that runs an app inside its cgroup: `/bin/sh` writes its own pid into each
 * group's `cgroup.procs`, then `exec`s the app, which keeps that pid and starts inside the
 * group. Moving the child after `spawn()` returns would be racy: the app would already be
 * running (allocating, forking children that stay in the sidecar's group) until the write
 * lands. Node's spawn has no hook between fork and exec, so a two-line shell does it; the
 * shell itself is replaced by the app, so signals and the exit status are the app's own.
 * A failed write exits with ENTRY_FAILED_EXIT_CODE before the app runs.
 */
export const ENTRY_FAILED_EXIT_CODE = 125;

const ENTRY_SCRIPT =
  'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "switchyard: cannot join cgroup $1" >&2; exit 125; }; shift; done; shift; exec "$@"';

export function cgroupEntryCommand(procsFiles: readonly string[], command: readonly string[]): string[] {
  return ['/bin/sh', '-c', ENTRY_SCRIPT, 'switchyard-cgroup-entry', ...procsFiles, '--', ...command];
}
