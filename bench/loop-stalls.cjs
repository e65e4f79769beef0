// Loaded into a gateway pod to see what holds up its event loop:
//   BENCH_GATEWAY_NODE_ARGS="--require ./bench/loop-stalls.cjs [--trace-gc]" BENCH_GATEWAY_STDOUT=/tmp/pod npm run
// bench -- …
// Writes to the pod's stdout, with a time in ms since the process started (as --trace-gc's):
//   STALL <t> <ms>          a 2 ms interval fired more than 4 ms late (the loop was busy, or the process waited for a
// core)
//   TIMER <t> <ms> <where>  a setTimeout/setInterval callback that ran for over 1 ms, and where it was scheduled
'use strict';
const { performance } = require('node:perf_hooks');

const out = (line) => process.stdout.write(`${line}\n`);
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 2;
  if (late > 4) out(`STALL ${now.toFixed(0)} ${late.toFixed(1)}`);
  last = now;
}, 2).unref();

for (const name of ['setInterval', 'setTimeout']) {
  const original = global[name];
  global[name] = function timed(fn, ms, ...rest) {
    if (typeof fn !== 'function') return original.call(this, fn, ms, ...rest);
    const where = `${name}(${ms}) ${(new Error().stack.split('\n')[2] || '').trim()}`;
    return original.call(
      this,
      function (...args) {
        const started = performance.now();
        try {
          return fn.apply(this, args);
        } finally {
          const took = performance.now() - started;
          if (took > 1) out(`TIMER ${started.toFixed(0)} ${took.toFixed(1)} ${where}`);
        }
      },
      ms,
      ...rest,
    );
  };
}
