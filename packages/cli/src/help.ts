/** The `--help` texts: commands, flags, exit codes, and the `status -o json` shape. */
import { Annotation, MANUAL_HOLDER_PREFIX, PAUSE_LEASE, SLOT_LEASE_PREFIX } from '@baton/protocol';
import type { CommandName } from './command-names.ts';
import { EXIT_CODE_HELP } from './errors.ts';

const GLOBAL_FLAGS = `Flags for every command:
  --kubeconfig PATH      kubeconfig file (default: $KUBECONFIG, else ~/.kube/config), as kubectl
  --context NAME         kubeconfig context (default: the current context)
  -n, --namespace NS     the controller's namespace, where the ${SLOT_LEASE_PREFIX}<i> and ${PAUSE_LEASE}
                         Leases live (default baton)
  --opt-out-label KEY    the controller's --opt-out-label, if it was changed (default baton.dev/opt-out)
  --request-timeout DUR  give up on an API request after DUR, such as 10s or 1m; 0 = never
                         (default 30s); a timeout exits with 3
  -h, --help             this text; kubectl baton COMMAND --help for one command`;

function exitCodes(): string {
  return `Exit codes:\n${EXIT_CODE_HELP.map(([code, text]) => `  ${code}  ${text}`).join('\n')}`;
}

const COMMAND_HELP: Readonly<Record<CommandName, { usage: string; summary: string; text: string }>> = {
  status: {
    summary: 'the pause, the slots, and one line per node',
    usage: 'kubectl baton status [NODE...] [-o json]',
    text: `The pause state and the slot Leases (holder, expiry), then one line per node:
  REBOOT   yes | no | unknown (the sentinel could not be read) | held (attempt limit) |
           unreported (no agent reports this node), from the agent's RebootRequired condition
  PHASE    the agent's ${Annotation.Phase} annotation
  SLOT     the slot Lease naming the node; "(not a grant)" when it carries no grant id
  BLOCKED  the reason of the controller's RebootGate condition when it holds the node back
  SINCE    how long the node has been in this state (latest of the phase start and the
           RebootRequired and RebootGate transitions)

  -o, --output json|text   json: one stable object (fields are only ever added):
    { "kind": "BatonStatus", "version": 1, "time": RFC3339, "namespace": string,
      "pause": { "paused": bool, "holder": string|null, "reason": string|null,
                 "since": RFC3339|null, "until": RFC3339|null, "description": string|null },
      "slots": [ { "name", "index", "holder": string|null, "acquired", "renewed",
                   "expires": RFC3339|null, "valid": bool (a grant: holder and grant id) } ],
      "nodes": [ { "name", "needsReboot": "yes"|"no"|"unknown"|"held"|"unreported",
                   "rebootRequired": { "status", "reason", "message", "since" }|null,
                   "phase", "phaseSince", "slot": string|null, "granted": bool,
                   "gate": { "status", "reason", "message", "since" }|null,
                   "blocked": string|null, "since", "requestedBy": string|null,
                   "attempts": number|null, "optedOut": bool, "cordoned": bool } ] }`,
  },
  why: {
    summary: "every gate's verdict for one node, in words",
    usage: 'kubectl baton why NODE [-o json]',
    text: `Every gate's verdict for NODE, in words: the agent's RebootRequired condition, a reboot
request, the attempt limit, the opt-out label, the pause, the grant, the controller's RebootGate
condition (windows, budgets and the other gates only the controller can judge), the cordon and
the agent's phase. Read from the cluster, so it answers while the controller is down.
  -o, --output json|text   json: { "kind": "BatonWhy", "version": 1, "time", "node", "summary",
                           "gates": [ { "gate", "verdict": "pass"|"block"|"info", "text" } ] }`,
  },
  pause: {
    summary: 'stop new reboot grants (optionally for a while)',
    usage: 'kubectl baton pause [--for DURATION] [--reason TEXT]',
    text: `Stops new grants: holds the ${PAUSE_LEASE} Lease as ${MANUAL_HOLDER_PREFIX}<you> (who the API server
says you are). Nodes already granted finish their reboot. Pausing again replaces the pause.
  --for DURATION   end the pause by itself after this long (48h, 90m, 1h30m); default: until resumed
  --reason TEXT    why, shown by status and why (annotation on the Lease)`,
  },
  resume: {
    summary: 'end the pause',
    usage: 'kubectl baton resume',
    text: `Ends the pause: deletes the ${PAUSE_LEASE} Lease. Not paused is not an error.`,
  },
  release: {
    summary: 'empty a slot Lease by its name or its holder',
    usage: 'kubectl baton release SLOT|NODE [--force]',
    text: `Empties the holder of a slot Lease (compare-and-swap: only if it still names the same
holder), given by its name (${SLOT_LEASE_PREFIX}0) or by its holder (a node, or ${MANUAL_HOLDER_PREFIX}<who>).
The controller may then grant it to the next node.
  --force   release even though the holder is mid-reboot (phase Cordoning, Draining,
            Rebooting or Verifying); without it that is refused (exit 6): its agent would
            stop and undo, or, once rebooting, another node could start while this one is down`,
  },
  request: {
    summary: 'ask for a reboot of a node without a sentinel file',
    usage: 'kubectl baton request NODE',
    text: `Asks for a reboot of NODE without a sentinel file: sets the ${Annotation.RebootRequested}
annotation to who you are. The agent reports RebootRequired=True (RebootRequested) and removes
the annotation after the reboot.`,
  },
  cancel: {
    summary: 'withdraw a reboot request',
    usage: 'kubectl baton cancel NODE',
    text: `Withdraws a request: removes the ${Annotation.RebootRequested} annotation. A reboot already granted
is not stopped by this (release its slot for that).`,
  },
};

export function mainHelp(): string {
  const width = Math.max(...Object.values(COMMAND_HELP).map((c) => c.usage.length));
  const commands = Object.values(COMMAND_HELP)
    .map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`)
    .join('\n');
  return `Usage: kubectl baton COMMAND [flags]

See and steer baton's node reboots. Reads and writes Nodes and the Leases in the controller's
namespace directly, with your kubeconfig, so it works while the controller is down.

Commands:
${commands}

${GLOBAL_FLAGS}

${exitCodes()}
`;
}

export function commandHelp(name: CommandName): string {
  const c = COMMAND_HELP[name];
  return `Usage: ${c.usage}\n\n${c.text}\n\n${GLOBAL_FLAGS}\n\n${exitCodes()}\n`;
}
