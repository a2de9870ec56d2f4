/** The agent's drain: plan (pure), engine (rounds of evictions), and the Kubernetes adapter. */
export { systemClock } from './clock.ts';
export * from './engine.ts';
export * from './kube-drain-api.ts';
export * from './options.ts';
export * from './plan.ts';
