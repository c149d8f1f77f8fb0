// Preloaded into a benchmarked process (node --import): sends process.memoryUsage() to the
// parent over IPC every BENCH_MEMORY_SAMPLE_MS (default 1000) ms. With --expose-gc it also
// collects garbage and sends what is still live (liveHeap, liveArrayBuffers): retained
// memory, without the sawtooth of garbage waiting for the next collection.
// Does nothing without an IPC channel.
if (process.send) {
  const every = Number(process.env.BENCH_MEMORY_SAMPLE_MS ?? 1000);
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    const sample = { type: 'memory', at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      const live = process.memoryUsage();
      sample.liveHeap = live.heapUsed;
      sample.liveArrayBuffers = live.arrayBuffers;
    }
    process.send(sample);
  }, every);
  timer.unref();
  process.channel?.unref();
}
