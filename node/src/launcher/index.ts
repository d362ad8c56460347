export * from './announce.js';
export * from './connect.js';
export * from './directory.js';
export * from './plot.js';
export * from './summary.js';
export * from './launch.js';
export * from './volunteer.js';
