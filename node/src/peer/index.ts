export * from './topics.js';
export * from './event-log.js';
export * from './status.js';
export * from './driver.js';
