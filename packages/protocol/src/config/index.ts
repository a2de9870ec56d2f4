/**
 * `@baton/protocol/config`: how the controller and the agent read their flags, environment and
 * values, for the processes themselves, the CLI's own arguments, and the scripts that generate
 * the chart's schema and docs/configuration.md. Only what those import is exported here.
 */
export { type AgentConfig, agentOptions, parseAgentConfig } from './agent.ts';
export { type ControllerConfig, controllerOptions, parseControllerConfig } from './controller.ts';
export { quote, redactCredentials } from './errors.ts';
export {
  camelCase,
  collectOptions,
  describeOptions,
  envNames,
  NON_OPTION_BATON_ENV,
  type OptionDef,
  type OptionRow,
  type OptionTable,
} from './flags.ts';
export {
  formatLabelSelector,
  type LabelPair,
  type LabelRequirement,
  type LabelSelector,
  labelKey,
  matchesLabelSelector,
  parseLabelSelector,
  type Taint,
} from './labels.ts';
export { duration, type RebootWindow } from './time.ts';
export {
  type AlertLabelMatcher,
  type Bounds,
  issueDetail,
  type MaxUnavailable,
  namespaceName,
  parseAlertLabelMatcher,
  parseRegex,
  type ValueType,
} from './values.ts';
