/**
 * Trust: signed statements, epoch certificates, join tokens, and the `Identity` implementations
 * (Ed25519 via @noble/curves; the simulator's keyed MAC).
 */
export * from './certs.js';
export * from './ed25519.js';
export * from './peer-key.js';
export * from './sim-keyring.js';
