export * from './csv.js';
export * from './json.js';
export * from './table.js';
export * from './progress.js';
