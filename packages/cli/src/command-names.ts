/** The commands of `kubectl baton`, read by the parser (args.ts) and the help text (help.ts). */
export const COMMANDS = ['status', 'why', 'pause', 'resume', 'release', 'request', 'cancel'] as const;
export type CommandName = (typeof COMMANDS)[number];
