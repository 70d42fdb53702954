export { VERSION } from './package.js';
