// How the page runs a model in onnxruntime-web: the runtime's settings and every session's
// options, in one place. The inference worker uses them, and so does the benchmark's bare
// session.run baseline (bench/web.py), so that both run the model the same way.

/** Where the runtime's files are and how many threads it runs: before the first session. */
export function configureRuntime(ort, { ortBase, threads }) {
  ort.env.wasm.wasmPaths = ortBase;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
}

/** The options every session is created with, for ``backend`` ("wasm" or "webgpu"). */
export function sessionOptions(backend) {
  return {
    executionProviders: [backend],
    graphOptimizationLevel: "all",
    freeDimensionOverrides: { batch: 1 },
    // idle pool threads sleep instead of spinning: on a phone or a 2-core laptop a spinning
    // thread takes the core that decodes the next photo (and the page's own thread)
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  };
}
