export * from './port.js';
export * from './session.js';
