/**
 * What the read-only API serves: the last plan this replica made, with what it was made from,
 * and where the replica stands (leading or not, watches in sync). The Reconciler records each
 * plan here (its `planned` hook); the API only reads. Nothing here writes to the cluster.
 *
 * A replica that does not lead does not plan: its view is empty (it never led) or stale (from
 * when it last led). The API says which replica answers and whether it leads, so a reader who
 * reached a follower through the Service knows to look at `plannedAt` or ask again.
 */
import type { PlannedPass } from '../reconcile/reconciler.ts';

/** Where this replica stands, asked at each request. */
export interface ReplicaState {
  /** The leader election identity (the pod's name). */
  readonly identity: string;
  /** Whether leader election is on; off, this replica is the only one and always plans. */
  readonly leaderElection: boolean;
  /** Whether this replica leads now (always true with leader election off). */
  readonly leader: boolean;
  /** Whether its Node and Lease watches are in sync (it plans only then). */
  readonly synced: boolean;
}

/** The settings the API reports next to the plan. */
export interface ViewSettings {
  readonly namespace: string;
  readonly concurrency: number;
  readonly optOutLabel: string;
}

export interface ControllerViewOptions extends ViewSettings {
  readonly replica: () => ReplicaState;
}

/** The holder the Reconciler writes into and the API reads from. */
export class ControllerView {
  readonly settings: ViewSettings;
  readonly #replica: () => ReplicaState;
  #last: PlannedPass | undefined;

  constructor(opts: ControllerViewOptions) {
    const { replica, ...settings } = opts;
    this.settings = settings;
    this.#replica = replica;
  }

  /** The Reconciler's `planned` hook: keeps the latest pass only. */
  readonly record = (pass: PlannedPass): void => {
    this.#last = pass;
  };

  /** The last plan of this replica; undefined before its first (or on a follower that never led). */
  last(): PlannedPass | undefined {
    return this.#last;
  }

  replica(): ReplicaState {
    return this.#replica();
  }
}
