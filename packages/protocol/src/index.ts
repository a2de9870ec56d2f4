/**
 * `@baton/protocol`: the contract between the controller, the agents and the people who operate
 * them — names (conditions, annotations, labels, Leases, Events), and the rules both sides share
 * (grants, reboot windows, the pause, what a node's conditions say). Configuration parsing has
 * its own entry point, `@baton/protocol/config`. Only what some package imports is exported.
 */
export {
  emptiedSlot,
  type Grant,
  givenUpOn,
  grantIdentity,
  grantNaming,
  grantOf,
  IN_FLIGHT_PHASES,
  inFlightGrant,
  isRebootAcknowledged,
  type LeaseLike,
  leaseExpiry,
  leaseTime,
  mayStartUnder,
  recordedGrant,
  splitGrantIdentity,
} from './grant.ts';
export {
  isNodeReady,
  isRebootHeld,
  needsReboot,
  nodeCondition,
  nodeNeedsReboot,
  type RebootNeed,
  rebootNeedOf,
  rebootRequiredOf,
} from './node-state.ts';
export { pauseState } from './pause.ts';
export {
  AgentPhase,
  Annotation,
  ConditionStatus,
  DOMAIN,
  EventReason,
  EventSource,
  FieldManager,
  GateReason,
  Label,
  LEADER_LEASE,
  LEASE_PART_OF_LABEL,
  MANUAL_HOLDER_PREFIX,
  PAUSE_LEASE,
  PAUSE_REASON_ANNOTATION,
  REBOOT_GATE_CONDITION,
  REBOOT_REQUIRED_CONDITION,
  REBOOTING_TAINT,
  RebootRequiredReason,
  SLOT_LEASE_PREFIX,
  SlotAnnotation,
  slotIndexOf,
  slotLeaseName,
} from './protocol.ts';
export { windowVerdict } from './window.ts';
