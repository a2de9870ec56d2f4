/**
 * What the agent's container needs, without privileged mode, to run a command in the host's
 * mount namespace (`nsenter -m/proc/1/ns/mnt -- <command>`: the `command` reboot method and a
 * sentinel command). The chart grants exactly these (scripts/chart.test.ts checks it), and
 * scripts/host-privileges.ts proves each one is needed and that together they are enough, in a
 * real container (runc, containerd's RuntimeDefault seccomp profile).
 */
export const HOST_COMMAND_CAPABILITIES = {
  /** setns(2) into another mount namespace; containerd's seccomp profile allows setns only with it. */
  SYS_ADMIN:
    'setns(2) into the host mount namespace (and the seccomp profile lets setns through only with it)',
  /** setns(2) into a mount namespace also needs CAP_SYS_CHROOT (it changes the root directory). */
  SYS_CHROOT: 'setns(2) into a mount namespace changes the root directory',
  /** Opening /proc/1/ns/mnt is a ptrace access check on PID 1, which holds every capability. */
  SYS_PTRACE:
    "opening /proc/1/ns/mnt: a ptrace access check against PID 1, whose capabilities are a superset of the container's",
} as const;

export type HostCapability = keyof typeof HOST_COMMAND_CAPABILITIES;
