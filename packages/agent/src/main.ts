import { runMain } from '@baton/runtime';
import { agentProcess } from './process.ts';

await runMain(agentProcess);
