export { controllerProcess } from './wiring/start-controller.ts';
