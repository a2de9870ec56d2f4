/**
 * The controller process: configuration, logging and the HTTP surface. The reconciler (gates,
 * slot Leases, planning, leader election) plugs in here.
 */
import {
  type ControllerConfig,
  controllerOptions,
  describeOptions,
  parseControllerConfig,
} from '@baton/protocol';
import { formatUsage, type ProcessSpec } from '@baton/runtime';

export const controllerProcess: ProcessSpec<ControllerConfig> = {
  name: 'baton-controller',
  parseConfig: parseControllerConfig,
  usage: () =>
    formatUsage(
      'baton-controller',
      'Grants reboot permission to nodes that need it, one slot Lease at a time.',
      describeOptions(controllerOptions),
    ),
  async start({ config, log, setReadiness }) {
    log.info(
      { namespace: config.namespace, concurrency: config.concurrency, windows: config.windows.length },
      'baton-controller started; reconciliation is not implemented yet, so it grants nothing',
    );
    setReadiness({ ready: true, reason: 'started (no reconciler yet)' });
    return { stop: async () => {} };
  },
};
