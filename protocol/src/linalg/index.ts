export * from './tridiagonal.js';
export * from './jacobi.js';
export * from './lanczos.js';
