/** The logging options both processes take, written once. */
import { logFormat, logLevel } from './values.ts';

export const loggingOptions = [
  {
    name: 'log-format',
    kind: 'single',
    ...logFormat,
    default: 'json',
    description: 'json: one JSON object per line; text: for people.',
    kuredFlag: 'log-format',
    kuredNote: "kured's default was text.",
  },
  {
    name: 'log-level',
    kind: 'single',
    ...logLevel,
    default: 'info',
    description: 'Least severe level logged.',
  },
] as const;
