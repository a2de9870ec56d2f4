/**
 * JSON Schemas of the controller's HTTP answers, given to fastify as response schemas: it
 * serializes with them (fast-json-stringify), so a field missing from a schema never leaves
 * the process, and the unit tests check every answer against them. They follow status.ts's
 * types; keep both in step (server.test.ts fails when they differ).
 */

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const bool = { type: 'boolean' } as const;

function object<P extends Record<string, unknown>>(properties: P) {
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.keys(properties),
    properties,
  } as const;
}

/** Every error: an unknown path or node, a method other than GET and HEAD, a failure. */
export const errorSchema = object({
  error: object({
    status: { type: 'integer' },
    /** HTTP's words for the status, as one: NotFound, MethodNotAllowed, ServiceUnavailable, InternalServerError, … */
    reason: str,
    message: str,
  }),
});

export const healthSchema = object({ status: str });
export const readinessSchema = object({
  status: { type: 'string', enum: ['ready', 'not ready'] },
  reason: str,
});

const replica = object({ identity: str, leaderElection: bool, leader: bool, synced: bool });

const gateBlock = object({ reason: str, detail: str });

export const nodeEntrySchema = object({
  name: str,
  needsReboot: { type: 'string', enum: ['yes', 'no', 'unknown', 'held', 'unreported'] },
  phase: nullableStr,
  requestedBy: nullableStr,
  attempts: { type: ['integer', 'null'] },
  cordoned: bool,
  slot: nullableStr,
  state: { type: 'string', enum: ['granting', 'holding', 'releasing', 'waiting', 'idle'] },
  blockedBy: { type: 'array', items: gateBlock },
  settle: { anyOf: [{ type: 'null' }, object({ stage: str, why: str })] },
  release: { anyOf: [{ type: 'null' }, object({ kind: str, reason: str })] },
  gate: { anyOf: [{ type: 'null' }, object({ status: str, reason: str, message: str })] },
});

const slotEntry = object({
  name: str,
  index: { type: 'integer' },
  holder: nullableStr,
  granting: nullableStr,
  releasing: nullableStr,
  problem: nullableStr,
});

export const statusSchema = object({
  kind: { type: 'string', const: 'BatonControllerStatus' },
  version: { type: 'integer', const: 1 },
  time: str,
  replica,
  plannedAt: nullableStr,
  namespace: str,
  concurrency: { type: 'integer' },
  taken: { type: ['integer', 'null'] },
  pause: object({ paused: bool, detail: nullableStr }),
  halted: { anyOf: [{ type: 'null' }, object({ node: str, detail: str })] },
  slots: { type: 'array', items: slotEntry },
  nodes: { type: 'array', items: nodeEntrySchema },
});

export const nodeSchema = object({
  kind: { type: 'string', const: 'BatonControllerNode' },
  version: { type: 'integer', const: 1 },
  time: str,
  replica,
  plannedAt: str,
  summary: str,
  node: nodeEntrySchema,
  gates: {
    type: 'array',
    items: object({ gate: str, verdict: { type: 'string', enum: ['pass', 'block', 'info'] }, text: str }),
  },
});

/** The node name in `/api/v1/nodes/:name`: a Node's name is a DNS subdomain (at most 253 characters); empty is no node's (404). */
export const nodeParamsSchema = object({ name: { type: 'string', maxLength: 253 } });
