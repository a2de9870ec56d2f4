export * from './http-server.ts';
export * from './informer.ts';
export * from './kube-errors.ts';
export * from './kubeconfig.ts';
export * from './logger.ts';
export * from './process-main.ts';
export * from './update.ts';
export * from './usage.ts';
