export { controllerProcess } from './process.ts';
