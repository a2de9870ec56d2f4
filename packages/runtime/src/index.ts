export * from './client-node-source.ts';
export * from './events.ts';
export * from './http-server.ts';
export * from './informer.ts';
export * from './kube-client.ts';
export * from './kube-connection.ts';
export * from './kube-errors.ts';
export * from './kubeconfig.ts';

export * from './logger.ts';
export * from './process-main.ts';
export * from './single-flight.ts';
export * from './update.ts';
export * from './usage.ts';
export * from './wall-clock.ts';
export * from './watch-timeout.ts';
