/**
 * The agent process: configuration, logging and the HTTP surface. Sentinel reporting and the
 * granted drain and reboot plug in here.
 */
import { type AgentConfig, agentOptions, describeOptions, parseAgentConfig } from '@baton/protocol';
import { formatUsage, type ProcessSpec } from '@baton/runtime';

export const agentProcess: ProcessSpec<AgentConfig> = {
  name: 'baton-agent',
  parseConfig: parseAgentConfig,
  usage: () =>
    formatUsage(
      'baton-agent',
      'Reports whether its node needs a reboot, and drains and reboots it when the controller grants it.',
      describeOptions(agentOptions),
    ),
  async start({ config, log, setReadiness }) {
    log.info(
      { node: config.nodeId, sentinel: config.rebootSentinelCommand ?? config.rebootSentinel },
      'baton-agent started; sentinel reporting is not implemented yet, so it reports nothing',
    );
    setReadiness({ ready: true, reason: 'started (no reporter yet)' });
    return { stop: async () => {} };
  },
};
