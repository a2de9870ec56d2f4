import { runMain } from '@baton/runtime';
import { controllerProcess } from './process.ts';

await runMain(controllerProcess);
