/**
 * What the bundle test runs — once from the Vite production bundle of the package, once from the
 * sources: MARINA + PermK on a nonconvex quadratic for 2,000 iterations.
 */
import type * as Protocol from '../src/index.js';

export function runMarina(P: typeof Protocol) {
  const manifest = P.parseManifest({
    problem: { kind: 'quadratic', d: 40, n: 8, s: 0.1, seed: 2 },
    method: { name: 'marina' },
    compressors: { device: 'permk' },
    stop: { iterations: 2000 },
    seed: 3,
  });
  const run = P.runFromManifest(manifest);
  const result = P.runReference({ problem: run.problem, method: run.method, iterations: manifest.stop.iterations });
  return {
    compressors: P.compressorNames(),
    methods: P.methodNames(),
    method: run.method.name,
    device: run.device.spec,
    first: result.records[0].opNormSq,
    last: result.records[result.records.length - 1].opNormSq,
    uplinkBits: result.uplinkBits,
  };
}
