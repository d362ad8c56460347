'use strict';
/**
 * The execution-provider probe's child process (see device.ts). Plain CommonJS, not TypeScript, so
 * the same file runs from the sources and from the build. A GPU driver that crashes or prints
 * warnings while it initialises does so here, not in the peer.
 *
 * stdin: JSON { ort: path of onnxruntime-node's package.json, model: base64 ONNX bytes,
 *               inputs: { name: { dims, data } }, providers: ["cpu", "webgpu", ...] }
 * stdout: JSON { results: [ { provider, ok, outputs?: { name: number[] }, ms?, error? } ] }
 */
const { createRequire } = require('node:module');

let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (text += chunk));
process.stdin.on('end', () => {
  main(JSON.parse(text)).then(
    (out) => process.stdout.write(JSON.stringify(out)),
    (e) => {
      process.stdout.write(JSON.stringify({ fatal: String((e && e.message) || e) }));
      process.exitCode = 1;
    },
  );
});

async function main(req) {
  const ort = createRequire(req.ort)('onnxruntime-node');
  const model = Buffer.from(req.model, 'base64');
  const results = [];
  for (const provider of req.providers) {
    try {
      const session = await ort.InferenceSession.create(model, { executionProviders: [provider], graphOptimizationLevel: 'all' });
      const feeds = {};
      for (const [name, t] of Object.entries(req.inputs)) feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
      await session.run(feeds); // the first run compiles kernels / uploads weights
      const t0 = performance.now();
      const out = await session.run(feeds);
      const ms = performance.now() - t0;
      const outputs = {};
      for (const [name, tensor] of Object.entries(out)) outputs[name] = Array.from(tensor.data, Number);
      await session.release();
      results.push({ provider, ok: true, outputs, ms });
    } catch (e) {
      results.push({
        provider,
        ok: false,
        error: String((e && e.message) || e)
          .split('\n')[0]
          .slice(0, 400),
      });
    }
  }
  return { results };
}
