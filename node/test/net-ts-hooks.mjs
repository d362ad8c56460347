// Module resolve hook for running TypeScript sources directly under Node 24
// (`--experimental-transform-types`): source files import siblings as `./x.js`, which exist only
// as `./x.ts` until built. Used by net-webrtc.test.ts to run a child process.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:'))) {
      return next(`${specifier.slice(0, -3)}.ts`, context);
    }
    throw err;
  }
}
