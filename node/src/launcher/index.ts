export * from './connect.js';
export * from './directory.js';
export * from './plot.js';
export * from './summary.js';
export * from './launch.js';
export * from './volunteer.js';
export * from './processes.js';
export * from './default-run.js';
