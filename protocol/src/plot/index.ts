export * from './svg.js';
export * from './line-chart.js';
export * from './convergence.js';
