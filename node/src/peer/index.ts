export * from './event-log.js';
export * from './driver.js';
export * from './identity.js';
