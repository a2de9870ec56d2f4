import { runMain } from '@baton/runtime';
import { agentProcess } from './wiring/start-agent.ts';

await runMain(agentProcess);
