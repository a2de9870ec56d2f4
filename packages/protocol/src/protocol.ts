/**
 * The contract between baton's controller, its agents and the people who operate them.
 *
 * Every name that crosses a process boundary lives here: node condition types and reasons,
 * annotations, labels, taints, Lease names and Event reasons. Each one says who writes it, who
 * reads it and which values it takes. State lives in the API server, never only in memory, so
 * this file is also the map of everything baton ever writes into a cluster.
 *
 * docs/protocol.md is the same table for people; keep them together.
 */

/** Prefix of every annotation, label and taint key baton owns. */
export const DOMAIN = 'baton.dev';

// ---------------------------------------------------------------------------------------------
// Node conditions
// ---------------------------------------------------------------------------------------------

/**
 * The statuses a node condition takes (Kubernetes' own three words), for the conditions below and
 * the kubelet's `Ready`. Written by: whoever owns the condition. Read by: everyone who reads it.
 */
export const ConditionStatus = {
  True: 'True',
  False: 'False',
  Unknown: 'Unknown',
} as const;
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

/**
 * Node condition type `RebootRequired`.
 * Written by: the agent on its own node (status subresource, strategic merge keyed by `type`, so
 * the kubelet's conditions stay intact), on every change and on a heartbeat.
 * Read by: the controller (who needs a reboot), people (`kubectl describe node`), the CLI.
 * Status: `True` | `False` | `Unknown`; reason from {@link RebootRequiredReason}.
 */
export const REBOOT_REQUIRED_CONDITION = 'RebootRequired';

/** Reasons of the {@link REBOOT_REQUIRED_CONDITION} condition, with the status each implies. */
export const RebootRequiredReason = {
  /** `True`: the sentinel file exists. */
  SentinelPresent: 'SentinelPresent',
  /** `True`: the sentinel command exited 0. */
  SentinelCommandSaysReboot: 'SentinelCommandSaysReboot',
  /** `True`: a person asked through the {@link Annotation.RebootRequested} annotation. */
  RebootRequested: 'RebootRequested',
  /** `False`: no sentinel file, or the command exited 1, and nobody asked. */
  NoSentinel: 'NoSentinel',
  /**
   * `Unknown`: the sentinel could not be read, or the command exited with anything but 0 or 1
   * (127 "command not found" included). Never means "reboot".
   */
  SentinelError: 'SentinelError',
  /**
   * `True` but held: the sentinel was still there after {@link Annotation.RebootAttempts}
   * reached the agent's limit. The controller never grants a held node; a person clears
   * {@link Annotation.RebootAttempts} to let it try again.
   */
  AttemptLimitReached: 'AttemptLimitReached',
} as const;
export type RebootRequiredReason = (typeof RebootRequiredReason)[keyof typeof RebootRequiredReason];

/**
 * Node condition type `RebootGate`: why a node that needs a reboot is not rebooting now.
 * Written by: the controller (leader only), on the node's status subresource with a strategic
 * merge keyed by `type` (other conditions untouched), only when status, reason or message change
 * (a message-only change at most once a minute). Never added to a node that needed nothing.
 * Read by: people (`kubectl describe node`), the CLI.
 * Status: `True` = a gate holds the node back (reason = the first blocking gate, message = every
 * gate holding it, `<Reason>: <detail>` joined by `; `); `False` = not held back (reason
 * {@link GateReason.Granted} while a slot names it, {@link GateReason.NotRequired} after).
 */
export const REBOOT_GATE_CONDITION = 'RebootGate';

/**
 * Stable reasons the controller reports per node, in the condition above and in the metric
 * `baton_node_blocked{node,reason}`. Stable: dashboards and alerts depend on these strings.
 * Written by: the controller (leader). Read by: people, the CLI, dashboards and alert rules.
 */
export const GateReason = {
  /** `False`: the node does not need a reboot (any more). Written only on nodes that had the condition. */
  NotRequired: 'NotRequired',
  /** `False`: a slot Lease names this node. */
  Granted: 'Granted',
  /** Every slot below `--concurrency` is taken. */
  WaitingForSlot: 'WaitingForSlot',
  OutsideWindow: 'OutsideWindow',
  BlackoutDate: 'BlackoutDate',
  Paused: 'Paused',
  OptedOut: 'OptedOut',
  /** An alert that passes the alert filters is active on `--prometheus-url` or `--alertmanager-url`. */
  AlertFiring: 'AlertFiring',
  /**
   * `--prometheus-url` did not answer usefully: refused, timed out, a non-2xx status, a body that
   * is not the alerts API's JSON, or an auth/CA file that could not be read. The message names
   * which. Fail closed: nobody can tell whether an alert fires.
   */
  PrometheusUnreachable: 'PrometheusUnreachable',
  /** The same as {@link GateReason.PrometheusUnreachable}, for `--alertmanager-url`. */
  AlertmanagerUnreachable: 'AlertmanagerUnreachable',
  /** A pod matching `--blocking-pod-selector` runs on the node (or anywhere, with cluster scope). */
  BlockingPod: 'BlockingPod',
  /** The pod watch of a blocking selector is not in sync, so nobody can tell whether a pod blocks. */
  BlockingPodsUnknown: 'BlockingPodsUnknown',
  /** `--max-per-group` grants already run in the node's `--group-label` group. */
  GroupBudgetExhausted: 'GroupBudgetExhausted',
  /** Granted, NotReady or cordoned nodes already reach `--max-unavailable`. */
  MaxUnavailableReached: 'MaxUnavailableReached',
  RolloutHalted: 'RolloutHalted',
  /** `RebootRequired=True` with reason `AttemptLimitReached`: held until a person resets the count. */
  AttemptLimitReached: 'AttemptLimitReached',
  /** `RebootRequired=Unknown`: the agent cannot read its sentinel; never a reason to reboot. */
  SentinelUnknown: 'SentinelUnknown',
  ControllerNode: 'ControllerNode',
  /**
   * The node's last grant ended without a reboot (the agent aborted, or started no work before
   * the grant lapsed): it waits `--abort-backoff`, doubling with each such grant in a row (up to
   * 16×), so a drain that is always refused does not cordon and uncordon the node in a loop.
   */
  BackingOff: 'BackingOff',
  /**
   * A person gave up on the node's reboot in progress (`kubectl baton release NODE --force`) and
   * its agent has not reported back since: it is not granted again until it does.
   */
  GivenUp: 'GivenUp',
} as const;
export type GateReason = (typeof GateReason)[keyof typeof GateReason];

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

/** Node annotations. Keys are `baton.dev/<name>`. */
export const Annotation = {
  /**
   * Written by: a person (or `kubectl baton request`), any value; removed to withdraw.
   * Read by: the agent, which then reports `RebootRequired=True` reason `RebootRequested`
   * without a sentinel. The agent removes it after the reboot it asked for.
   */
  RebootRequested: `${DOMAIN}/reboot-requested`,
  /**
   * Written by: the agent, when it starts acting on a grant: `"true"` if the node was already
   * cordoned (by someone else) before baton touched it, else `"false"`.
   * Read by: the agent after the reboot or on abort: it uncordons only if this is `"false"`,
   * so an administrator's cordon is never undone. Removed by the agent when done.
   */
  WasUnschedulable: `${DOMAIN}/was-unschedulable`,
  /**
   * Written by: the agent, just before it reboots: `status.nodeInfo.bootID` at that moment.
   * Read by: the agent on start: a different bootID now means the reboot happened; the same
   * one means the agent restarted without a reboot and must not pretend otherwise.
   */
  RebootFromBootId: `${DOMAIN}/reboot-from-boot-id`,
  /**
   * Written by: the agent: decimal count of reboots done while the sentinel stayed present.
   * Read by: the agent (attempt limit), the controller (never grants a held node), people.
   * A person deletes it to release a held node.
   */
  RebootAttempts: `${DOMAIN}/reboot-attempts`,
  /**
   * Written by: the agent: its current phase, one of {@link AgentPhase}.
   * Read by: the controller (progress, settling, metrics), the CLI, people.
   */
  Phase: `${DOMAIN}/phase`,
  /**
   * Written by: the agent: RFC 3339 time the current phase started.
   * Read by: the controller (durations), the CLI ("since").
   */
  PhaseSince: `${DOMAIN}/phase-since`,
  /**
   * Written by: the agent, before it touches anything under a grant: that grant's identity,
   * `<slot Lease>/<grant id>` (grant.ts). Kept after the work ends: a grant is used once, and the
   * agent never starts again under the identity recorded here.
   * Read by: the controller (which grant the recorded phase belongs to, and which nodes are
   * mid-reboot whatever the Leases say), the agent, people.
   */
  Grant: `${DOMAIN}/grant`,
  /**
   * Written by: the agent: decimal count of grants in a row that ended without a reboot
   * (aborted); removed after a reboot. Read by: the controller (how long to back off), people.
   */
  AbortedGrants: `${DOMAIN}/aborted-grants`,
  /**
   * Written by: a person (`kubectl baton release NODE --force`): the identity of the grant the
   * node was working under when the person gave up on it (a machine that never came back).
   * Read by: the controller, which then stops counting the node as mid-reboot. The agent ignores
   * it: if the machine comes back, it finishes or undoes its own work as usual.
   */
  GivenUp: `${DOMAIN}/given-up`,
} as const;
export type Annotation = (typeof Annotation)[keyof typeof Annotation];

/** Values of {@link Annotation.Phase}, written by the agent. */
export const AgentPhase = {
  Cordoning: 'Cordoning',
  Draining: 'Draining',
  Rebooting: 'Rebooting',
  /** Booted again; waiting for the node to be Ready before uncordoning. */
  Verifying: 'Verifying',
  /** Uncordoned and reported; the controller now decides whether the node has settled. */
  Rebooted: 'Rebooted',
  /** The drain or grant failed; the agent undid its own changes. */
  Aborted: 'Aborted',
  /** The attempt limit holds the node; see {@link RebootRequiredReason.AttemptLimitReached}. */
  Held: 'Held',
} as const;
export type AgentPhase = (typeof AgentPhase)[keyof typeof AgentPhase];

// ---------------------------------------------------------------------------------------------
// Labels and taints
// ---------------------------------------------------------------------------------------------

/** Node labels. */
export const Label = {
  /**
   * Written by: a person, value `"true"`. Read by: the controller, which never grants this node
   * (gate reason {@link GateReason.OptedOut}).
   */
  OptOut: `${DOMAIN}/opt-out`,
  /**
   * Default name of the priority label (the controller's `--priority-label` may name another).
   * Written by: a person, an integer; higher reboots first. Read by: the controller's planner.
   */
  Priority: `${DOMAIN}/priority`,
} as const;

/**
 * Taint the agent puts on its node while it drains and reboots, so nothing new is scheduled
 * there even by workloads that tolerate `node.kubernetes.io/unschedulable`.
 * Written and removed by: the agent. Read by: the scheduler.
 */
export const REBOOTING_TAINT = { key: `${DOMAIN}/rebooting`, effect: 'NoSchedule' } as const;

// ---------------------------------------------------------------------------------------------
// Leases (coordination.k8s.io/v1, in the controller's namespace)
// ---------------------------------------------------------------------------------------------

/** Name of slot Lease `index` (0-based). Written by: the controller only. Read by: agents, people, the CLI. */
export function slotLeaseName(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`slot index must be >= 0, got ${index}`);
  return `${SLOT_LEASE_PREFIX}${index}`;
}

/** Prefix of slot Lease names: `baton-slot-0`, `baton-slot-1`, … */
export const SLOT_LEASE_PREFIX = 'baton-slot-';

/**
 * Returns the slot index of a Lease name, or `undefined` when it is not a slot Lease.
 */
export function slotIndexOf(leaseName: string): number | undefined {
  if (!leaseName.startsWith(SLOT_LEASE_PREFIX)) return undefined;
  const rest = leaseName.slice(SLOT_LEASE_PREFIX.length);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : undefined;
}

/**
 * The pause Lease. Written by: a person (or `kubectl baton pause`), `holderIdentity:
 * manual:<who>`, optionally `leaseDurationSeconds` to end the pause by itself.
 * Read by: the controller, which grants nothing while it is held and not expired.
 */
export const PAUSE_LEASE = 'baton-pause';

/**
 * Annotation on {@link PAUSE_LEASE}: why it is paused, in a person's words (`kubectl baton pause
 * --reason`). Written by: a person or the CLI. Read by: people, the CLI. Never changes a decision.
 */
export const PAUSE_REASON_ANNOTATION = `${DOMAIN}/pause-reason`;

/** Prefix a person's holder identity must carry on {@link PAUSE_LEASE} or on a slot held by hand. */
export const MANUAL_HOLDER_PREFIX = 'manual:';

/**
 * Leader-election Lease of the controller replicas. Written and read by: the controller only.
 */
export const LEADER_LEASE = 'baton-controller-leader';

/**
 * Annotations on a slot Lease. Written by: the controller when it grants; removed by the
 * controller when it releases, and by `kubectl baton release` (an emptied slot must not keep a
 * stale grant record: a hand-written holder later would not match it and the slot would block).
 * Read by: the controller, people.
 */
export const SlotAnnotation = {
  /** The node the controller granted this slot to; a holder other than this is not its grant. */
  GrantedNode: `${DOMAIN}/granted-node`,
  /** `"true"` when the node was already cordoned at the grant (its cordon after the reboot is an administrator's). */
  GrantedNodeWasUnschedulable: `${DOMAIN}/granted-node-was-unschedulable`,
  /**
   * What the drain of the granted node touches, listed by the controller just before it grants:
   * JSON `{"workloads":["Deployment/<ns>/<name>=<available>","StatefulSet/…","ReplicaSet/…"],"pdbs":["<ns>/<name>"]}`,
   * `=<available>` being the replicas available at the grant (absent when unknown: then all).
   * The node settles only once each of these workloads has that many replicas available again and
   * each PDB is back at its desired healthy count; a node holder without a readable record does
   * not settle (the controller cannot tell what to wait for).
   */
  GrantedWorkloads: `${DOMAIN}/granted-workloads`,
  /**
   * This acquisition's id, unique per grant (a random UUID). Together with the Lease's name it is
   * the grant's identity, the one thing the agent and the controller judge a grant by: never the
   * Lease's times, which another machine's clock wrote. Written by the controller when it grants;
   * removed when the slot is emptied. A node holder without it is not a grant.
   */
  GrantId: `${DOMAIN}/grant-id`,
  /**
   * `"true"` once the controller has seen the node start work under this grant (the agent
   * recorded the grant on its node): the agent cordons only after it reads this, fresh from the
   * API server. Written by the controller, in a compare-and-swap on the grant id, so a release
   * decided because the node did nothing and the start of its work can never both happen: the
   * controller releases such a grant only if the Lease carries neither acknowledgement.
   */
  Started: `${DOMAIN}/started`,
  /**
   * The acknowledged reboot: the boot the node reboots from, copied by the controller from the
   * node's {@link Annotation.RebootFromBootId} once the agent has drained and recorded it. The
   * agent gives the reboot command only once it reads this (fresh from the API server), so from
   * then on the slot Lease itself says the node may be down: the controller keeps the slot until
   * the node is back on another boot and settled, even if the Node object is deleted.
   */
  RebootFromBootId: `${DOMAIN}/reboot-from-boot-id`,
} as const;

/** Label on every Lease baton creates, so `kubectl get leases -l app.kubernetes.io/part-of=baton` lists them. */
export const LEASE_PART_OF_LABEL = { key: 'app.kubernetes.io/part-of', value: 'baton' } as const;

// ---------------------------------------------------------------------------------------------
// Events (core/v1 Events on the Node)
// ---------------------------------------------------------------------------------------------

/** Event reasons, one per transition. The writer is named on each. */
export const EventReason = {
  /** Controller: a slot Lease now names this node. */
  RebootGranted: 'RebootGranted',
  /** Agent: cordoned, starting the drain. */
  Draining: 'Draining',
  /** Agent: an eviction was refused (PDB) or the drain timed out. */
  DrainBlocked: 'DrainBlocked',
  /** Agent: the drain finished or was forced; the reboot command runs now. */
  Rebooting: 'Rebooting',
  /** Agent: a new bootID was seen; the node was uncordoned if the agent had cordoned it. */
  Rebooted: 'Rebooted',
  /** Agent: the grant was revoked or expired, or the drain timed out with the abort policy. */
  RebootAborted: 'RebootAborted',
  /** Agent: the sentinel survived the configured number of reboots; the node is held. */
  RebootHeld: 'RebootHeld',
  /** Controller: the node settled; its slot was released. */
  Settled: 'Settled',
  /** Controller: a granted node did not settle in time; no new grants until a person acts. */
  RolloutHalted: 'RolloutHalted',
  /**
   * Controller, on the slot Lease (not a Node): the Lease was edited into something it cannot act
   * on; the slot stays blocked until a person fixes or empties it.
   */
  SlotInvalid: 'SlotInvalid',
  /** Controller: the slot was taken back (holder gone, grant expired, node deleted). */
  SlotReleased: 'SlotReleased',
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

// ---------------------------------------------------------------------------------------------
// Field managers and component names
// ---------------------------------------------------------------------------------------------

/** `fieldManager` of every write, so `kubectl get -o yaml --show-managed-fields` tells who wrote what. */
export const FieldManager = {
  Controller: 'baton-controller',
  Agent: 'baton-agent',
  Cli: 'kubectl-baton',
} as const;

/** The `source.component` / `reportingController` of Events. */
export const EventSource = {
  Controller: 'baton-controller',
  Agent: 'baton-agent',
} as const;
