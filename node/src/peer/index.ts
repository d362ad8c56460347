export * from './event-log.js';
export * from './driver.js';
