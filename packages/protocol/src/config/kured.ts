/**
 * Where each of kured 1.23.0's 43 flags went in baton.
 *
 * kured was one DaemonSet with every flag; baton splits the work between a controller (decides
 * when) and an agent (reboots its node). A kured user who copies flags across gets, for each flag
 * that is not an option of the process at hand, a message saying where it went instead of a bare
 * "unknown flag". The tests check this map against the two option tables.
 */

export type KuredFlagHome = 'controller' | 'agent' | 'both' | 'none';

export interface KuredFlagFate {
  /** Which baton process takes the flag (under kured's name or as an alias), or `none`. */
  readonly home: KuredFlagHome;
  /** For `none`: what to do instead. */
  readonly instead?: string;
}

const MESSAGE_TEMPLATES =
  'message templates are not configurable; baton posts a JSON event that the receiver formats';

/** kured flag name (no dashes) → its fate in baton. */
export const KURED_FLAGS: Readonly<Record<string, KuredFlagFate>> = {
  'node-id': { home: 'agent' },
  'reboot-sentinel': { home: 'agent' },
  'reboot-sentinel-command': { home: 'agent' },
  period: { home: 'controller' },
  'reboot-days': { home: 'controller' },
  'start-time': { home: 'controller' },
  'end-time': { home: 'controller' },
  'time-zone': { home: 'controller' },
  'ds-namespace': { home: 'none', instead: 'the grants are Leases in the namespace given by --namespace' },
  'ds-name': { home: 'none', instead: 'baton keeps no lock on a DaemonSet; grants are Leases' },
  'lock-annotation': {
    home: 'none',
    instead: 'baton keeps no lock annotation; grants are Leases named baton-slot-<n>',
  },
  'lock-ttl': {
    home: 'none',
    instead:
      'grants are Leases renewed while the reboot progresses; see --grant-duration and --reboot-timeout',
  },
  'lock-release-delay': { home: 'controller' },
  concurrency: { home: 'controller' },
  'drain-grace-period': { home: 'agent' },
  'drain-timeout': { home: 'agent' },
  'skip-wait-for-delete-timeout': { home: 'agent' },
  'drain-pod-selector': { home: 'agent' },
  'drain-delay': { home: 'agent' },
  'force-reboot': { home: 'agent' },
  'prometheus-url': { home: 'controller' },
  'alert-filter-regexp': { home: 'controller' },
  'alert-filter-match-only': { home: 'controller' },
  'alert-firing-only': { home: 'controller' },
  'blocking-pod-selector': { home: 'controller' },
  'reboot-method': { home: 'agent' },
  'reboot-command': { home: 'agent' },
  'reboot-signal': { home: 'agent' },
  'reboot-delay': { home: 'agent' },
  'pre-reboot-node-labels': { home: 'agent' },
  'post-reboot-node-labels': { home: 'agent' },
  'prefer-no-schedule-taint': { home: 'agent' },
  'annotate-nodes': { home: 'agent' },
  'notify-url': { home: 'controller' },
  'slack-hook-url': {
    home: 'none',
    instead: "give the Slack incoming-webhook URL to the controller's --notify-url",
  },
  'slack-username': { home: 'none', instead: 'kured parsed it but never used it; baton has no equivalent' },
  'slack-channel': { home: 'none', instead: 'kured parsed it but never used it; baton has no equivalent' },
  'message-template-drain': { home: 'none', instead: MESSAGE_TEMPLATES },
  'message-template-reboot': { home: 'none', instead: MESSAGE_TEMPLATES },
  'message-template-uncordon': { home: 'none', instead: MESSAGE_TEMPLATES },
  'metrics-host': { home: 'both' },
  'metrics-port': { home: 'both' },
  'log-format': { home: 'both' },
};

/**
 * Hints for {@link ParseSettings.unknownFlagHints}: what to tell a user who gives `process` a kured
 * flag it does not take.
 */
export function kuredFlagHints(process: 'controller' | 'agent'): Readonly<Record<string, string>> {
  const hints: Record<string, string> = {};
  for (const [flag, fate] of Object.entries(KURED_FLAGS)) {
    if (fate.home === process || fate.home === 'both') continue;
    hints[flag] =
      fate.home === 'none'
        ? `kured's --${flag} has no baton equivalent: ${fate.instead ?? ''}`
        : `kured's --${flag} is an option of baton-${fate.home}, not of baton-${process}`;
  }
  return hints;
}
