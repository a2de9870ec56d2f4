export { agentProcess } from './process.ts';
