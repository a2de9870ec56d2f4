/**
 * The commands: read what they need through {@link Cluster}, decide with the pure modules, write
 * with compare-and-swap where a concurrent writer could be overwritten (the slot and pause
 * Leases, through runtime's updateWithRetry), and print.
 */
import {
  Annotation,
  emptiedSlot,
  grantOf,
  IN_FLIGHT_PHASES,
  inFlightGrant,
  LEASE_PART_OF_LABEL,
  MANUAL_HOLDER_PREFIX,
  PAUSE_LEASE,
  PAUSE_REASON_ANNOTATION,
  slotIndexOf,
} from '@baton/protocol';
import { updateWithRetry } from '@baton/runtime';
import { type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Command, GlobalOptions } from './args.ts';
import type { Cluster } from './cluster.ts';
import { CliError, ExitCode } from './errors.ts';
import { formatAge, formatStatus, formatWhy } from './format.ts';
import { nodeView, pauseView, slotViews, statusReport } from './view.ts';
import { whyReport } from './why.ts';

export interface CommandContext {
  readonly cluster: Cluster;
  readonly global: GlobalOptions;
  readonly now: () => Date;
  readonly stdout: (text: string) => void;
  /** Warnings; errors are thrown as CliError. */
  readonly stderr: (text: string) => void;
}

export async function runCommand(command: Command, ctx: CommandContext): Promise<void> {
  switch (command.name) {
    case 'status':
      return status(ctx, command.nodes, command.output);
    case 'why':
      return why(ctx, command.node, command.output);
    case 'pause':
      return pause(ctx, command.forMs, command.reason);
    case 'resume':
      return resume(ctx);
    case 'release':
      return release(ctx, command.target, command.force);
    case 'request':
      return request(ctx, command.node);
    case 'cancel':
      return cancel(ctx, command.node);
  }
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

async function status(ctx: CommandContext, only: readonly string[], output: 'text' | 'json') {
  const { cluster } = ctx;
  const [allNodes, leases] = await Promise.all([cluster.listNodes(), cluster.listLeases()]);
  let nodes = allNodes;
  if (only.length > 0) {
    const unknown = only.filter((n) => !allNodes.some((node) => node.metadata?.name === n));
    if (unknown.length > 0) {
      throw new CliError(
        ExitCode.NotFound,
        `unknown node(s): ${unknown.join(', ')}; no such Node in the cluster`,
      );
    }
    nodes = allNodes.filter((n) => only.includes(n.metadata?.name ?? ''));
  }
  const report = statusReport({
    namespace: cluster.namespace,
    nodes,
    leases,
    now: ctx.now(),
    optOutLabel: ctx.global.optOutLabel,
  });
  ctx.stdout(output === 'json' ? json(report) : formatStatus(report));
}

async function why(ctx: CommandContext, name: string, output: 'text' | 'json') {
  const [node, leases] = await Promise.all([ctx.cluster.getNode(name), ctx.cluster.listLeases()]);
  const now = ctx.now();
  const report = whyReport({
    node: nodeView(node, leases, ctx.global.optOutLabel),
    pause: pauseView(
      leases.find((l) => l.metadata?.name === PAUSE_LEASE),
      now,
    ),
    slots: slotViews(leases),
    optOutLabel: ctx.global.optOutLabel,
    time: now.toISOString(),
  });
  ctx.stdout(output === 'json' ? json(report) : formatWhy(report));
}

/** The pause Lease as `pause` writes it: holder, times, optional bound, reason. */
export function pauseLease(
  base: V1Lease,
  holder: string,
  forMs: number | undefined,
  reason: string | undefined,
  now: V1MicroTime,
): V1Lease {
  const annotations = { ...base.metadata?.annotations };
  if (reason !== undefined) annotations[PAUSE_REASON_ANNOTATION] = reason;
  else delete annotations[PAUSE_REASON_ANNOTATION];
  return {
    ...base,
    metadata: {
      ...base.metadata,
      name: PAUSE_LEASE,
      labels: { ...base.metadata?.labels, [LEASE_PART_OF_LABEL.key]: LEASE_PART_OF_LABEL.value },
      annotations,
    },
    spec: {
      holderIdentity: holder,
      acquireTime: now,
      renewTime: now,
      ...(forMs !== undefined ? { leaseDurationSeconds: forMs / 1000 } : {}),
      leaseTransitions: (base.spec?.leaseTransitions ?? -1) + 1,
    },
  };
}

async function pause(ctx: CommandContext, forMs: number | undefined, reason: string | undefined) {
  const { cluster } = ctx;
  const holder = `${MANUAL_HOLDER_PREFIX}${await cluster.whoAmI()}`;
  const before = await cluster.findLease(PAUSE_LEASE);
  const previous = before === undefined ? undefined : pauseView(before, ctx.now());
  let written: V1Lease | undefined;
  if (before === undefined) {
    written = await cluster.createLease(pauseLease({}, holder, forMs, reason, new V1MicroTime()));
  }
  if (written === undefined) {
    // It exists (or appeared meanwhile): replace it, re-reading on a conflict.
    const res = await updateWithRetry(
      () => cluster.readLease(PAUSE_LEASE),
      (current) => pauseLease(current, holder, forMs, reason, new V1MicroTime()),
      (desired) => cluster.replaceLease(desired),
    );
    written = res.object;
  }
  const view = pauseView(written, ctx.now());
  if (previous?.paused) {
    ctx.stdout(
      `Replaced the pause by ${previous.holder ?? '?'}${previous.reason !== null ? ` (${previous.reason})` : ''}.\n`,
    );
  }
  const until = view.until !== null ? `until ${view.until} (for ${formatAge(forMs ?? 0)}) or ` : '';
  ctx.stdout(
    `Paused by ${holder}: no new reboot grants ${until}until kubectl baton resume${reason !== undefined ? `; reason: ${reason}` : ''}.\n`,
  );
  const holders = slotViews(await cluster.listLeases()).filter((s) => s.valid);
  if (holders.length > 0) {
    ctx.stdout(
      `Already granted, and finishing their reboot: ${holders.map((s) => `${s.holder} (${s.name})`).join(', ')}.\n`,
    );
  }
}

async function resume(ctx: CommandContext) {
  const { cluster } = ctx;
  const found = await cluster.findLease(PAUSE_LEASE);
  if (found === undefined) {
    ctx.stdout(`Not paused: there is no ${PAUSE_LEASE} Lease in namespace ${cluster.namespace}.\n`);
    return;
  }
  let deleted: V1Lease | undefined;
  // Delete the pause we read, not one someone set meanwhile: the delete is conditional on the
  // resourceVersion; a 409 re-reads (and deletes the newer one: resume means "not paused").
  await updateWithRetry(
    () => cluster.readLease(PAUSE_LEASE),
    (current) => current,
    async (current) => {
      await cluster.deleteLease(PAUSE_LEASE, current.metadata?.resourceVersion);
      deleted = current;
      return current;
    },
  ).catch((err: unknown) => {
    // Gone between the read and the delete: not paused, which is what was asked.
    if (err instanceof CliError && err.exitCode === ExitCode.NotFound) return;
    throw err;
  });
  const was = deleted === undefined ? undefined : pauseView(deleted, ctx.now());
  if (was?.paused) {
    ctx.stdout(
      `Resumed: the pause by ${was.holder ?? '?'}${was.reason !== null ? ` (${was.reason})` : ''} is lifted; the controller grants again.\n`,
    );
  } else {
    ctx.stdout(`Resumed: removed the ${PAUSE_LEASE} Lease (it was not in effect any more).\n`);
  }
}

async function release(ctx: CommandContext, target: string, force: boolean) {
  const { cluster } = ctx;
  const leases = await cluster.listLeases();
  const slots = leases.filter((l) => slotIndexOf(l.metadata?.name ?? '') !== undefined);
  const known = slots.map((l) => l.metadata?.name).join(', ') || 'none';
  let chosen: V1Lease[];
  if (slotIndexOf(target) !== undefined) {
    const lease = slots.find((l) => l.metadata?.name === target);
    if (lease === undefined) {
      throw new CliError(
        ExitCode.NotFound,
        `unknown slot "${target}": no such Lease in namespace ${cluster.namespace} (slots there: ${known})`,
      );
    }
    chosen = [lease];
  } else {
    chosen = slots.filter((l) => l.spec?.holderIdentity === target);
    if (chosen.length === 0) {
      // Tell a node that holds nothing from a name that is neither a node nor a slot.
      const node = await cluster.getNode(target).catch((err: unknown) => {
        if (err instanceof CliError && err.exitCode === ExitCode.NotFound) {
          throw new CliError(
            ExitCode.NotFound,
            `unknown slot or node "${target}": no slot Lease in namespace ${cluster.namespace} is held by it, and no Node has that name (slots there: ${known})`,
          );
        }
        throw err;
      });
      // No Lease names it, but its own record may say it is mid-reboot (its Lease was deleted
      // or emptied by hand): the controller counts it as holding a slot until a person gives up.
      const orphan = inFlightGrant(node.metadata?.annotations ?? {});
      if (orphan !== undefined) {
        await giveUp(
          ctx,
          target,
          orphan,
          node.metadata?.annotations?.[Annotation.Phase],
          force,
          'no slot Lease names it any more',
        );
        return;
      }
      throw new CliError(
        ExitCode.NotFound,
        `node "${target}" holds no slot in namespace ${cluster.namespace} (slots there: ${known}); nothing to release`,
      );
    }
  }
  for (const lease of chosen) await releaseOne(ctx, lease, force);
}

/**
 * Gives up on a node that is mid-reboot: records the grant's identity in
 * {@link Annotation.GivenUp}, so the controller stops counting the node as holding a slot. Only
 * with --force: the node may be down, and the controller may then let another one go down.
 */
async function giveUp(
  ctx: CommandContext,
  node: string,
  identity: string,
  phase: string | undefined,
  force: boolean,
  context: string,
) {
  const warning = `${node} is mid-reboot (phase ${phase ?? 'none'}, grant ${identity}; ${context}): giving up on it lets the controller grant its slot to another node, which may go down while this one is still down`;
  if (!force)
    throw new CliError(ExitCode.Refused, `refused: ${warning}. Re-run with --force to give up on it.`);
  ctx.stderr(`warning: ${warning}; giving up on it (--force).\n`);
  await ctx.cluster.annotateNode(node, Annotation.GivenUp, identity);
  ctx.stdout(
    `Gave up on ${node} (${Annotation.GivenUp}=${identity}): it no longer counts as holding a slot.\n`,
  );
}

async function releaseOne(ctx: CommandContext, lease: V1Lease, force: boolean) {
  const { cluster } = ctx;
  const slot = lease.metadata?.name ?? '';
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === '') {
    ctx.stdout(`${slot} is already free.\n`);
    return;
  }
  let givingUp: string | undefined;
  if (!holder.startsWith(MANUAL_HOLDER_PREFIX)) {
    const node = await cluster.getNode(holder).catch((err: unknown) => {
      if (err instanceof CliError && err.exitCode === ExitCode.NotFound) return undefined; // holder is no node
      throw err;
    });
    const annotations = node?.metadata?.annotations ?? {};
    const inFlight = inFlightGrant(annotations);
    const acked = grantOf(lease)?.rebootFromBootId;
    if (inFlight !== undefined || acked !== undefined) {
      const phase = annotations[Annotation.Phase];
      const since = annotations[Annotation.PhaseSince];
      const warning = `${holder} is mid-reboot (phase ${phase ?? (node === undefined ? 'unknown: its Node object is gone' : 'none')}${since !== undefined ? ` since ${since}` : ''}): releasing ${slot} makes its agent stop and undo what it can before the reboot, and once it reboots the controller may let another node go down while this one is still down`;
      if (!force) {
        throw new CliError(
          ExitCode.Refused,
          `refused: ${warning}. Re-run with --force to release it anyway.`,
        );
      }
      ctx.stderr(`warning: ${warning}; releasing anyway (--force).\n`);
      givingUp = inFlight;
    }
  }
  const res = await updateWithRetry(
    () => cluster.readLease(slot),
    (current) => {
      const now = current.spec?.holderIdentity ?? '';
      if (now === '') return undefined; // released by someone else meanwhile
      if (now !== holder) {
        throw new CliError(
          ExitCode.Refused,
          `${slot} changed hands meanwhile: it is now held by ${now}, not ${holder}; nothing released (run the command again to decide on the new holder)`,
        );
      }
      // As the controller's release: the holder, its times and the grant record go.
      return emptiedSlot(current);
    },
    (desired) => cluster.replaceLease(desired),
  );
  ctx.stdout(res.changed ? `Released ${slot} (was held by ${holder}).\n` : `${slot} is already free.\n`);
  // The node's own record still says it is mid-reboot under this grant: without this mark the
  // controller would keep counting it (what the node says it does counts as much as the Lease).
  if (givingUp !== undefined) {
    await cluster.annotateNode(holder, Annotation.GivenUp, givingUp);
    ctx.stdout(
      `Gave up on ${holder} (${Annotation.GivenUp}=${givingUp}): it no longer counts as holding a slot.\n`,
    );
  }
}

async function request(ctx: CommandContext, name: string) {
  const node = await ctx.cluster.getNode(name);
  const existing = node.metadata?.annotations?.[Annotation.RebootRequested];
  if (existing !== undefined) {
    ctx.stdout(`A reboot of ${name} is already requested (by "${existing}"); nothing changed.\n`);
    return;
  }
  const who = await ctx.cluster.whoAmI();
  await ctx.cluster.annotateNode(name, Annotation.RebootRequested, who);
  ctx.stdout(
    `Requested a reboot of ${name} (${Annotation.RebootRequested}=${who}). Its agent reports it; the controller grants it when the gates allow (kubectl baton why ${name}).\n`,
  );
}

async function cancel(ctx: CommandContext, name: string) {
  const node = await ctx.cluster.getNode(name);
  const existing = node.metadata?.annotations?.[Annotation.RebootRequested];
  if (existing === undefined) {
    ctx.stdout(`No reboot request on ${name}; nothing to cancel.\n`);
    return;
  }
  await ctx.cluster.annotateNode(name, Annotation.RebootRequested, null);
  ctx.stdout(`Cancelled the reboot request on ${name} (was "${existing}").\n`);
  const phase = node.metadata?.annotations?.[Annotation.Phase];
  if (phase !== undefined && IN_FLIGHT_PHASES.has(phase)) {
    ctx.stdout(
      `Note: ${name} is already mid-reboot (phase ${phase}); cancelling the request does not stop it.\n`,
    );
  }
}
