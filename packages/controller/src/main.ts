import { runMain } from '@baton/runtime';
import { controllerProcess } from './wiring/start-controller.ts';

await runMain(controllerProcess);
