export { agentProcess } from './wiring/start-agent.ts';
