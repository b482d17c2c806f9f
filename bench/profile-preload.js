'use strict';
/**
 * Preloaded into the service child when BENCH_PROFILE=1 (node --require bench/profile-preload.js).
 * Not SIGUSR2: Nest's enableShutdownHooks() treats SIGUSR2 as a shutdown signal.
 * SIGWINCH toggles the V8 CPU profiler: the first signal starts it, the next one stops it and
 * writes `<BENCH_PROFILE_DIR>/profile-<n>.cpuprofile` (then `<file>.done`), so the harness can
 * profile exactly one workload at a time. (--cpu-prof is no use here: Nest re-raises SIGTERM
 * after its shutdown hooks, and the profile is never written.)
 */
const fs = require('node:fs');
const path = require('node:path');
const inspector = require('node:inspector');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let running = false;
  let n = 0;
  const post = (method, params) =>
    new Promise((resolve, reject) => session.post(method, params || {}, (err, res) => (err ? reject(err) : resolve(res))));
  process.on('SIGWINCH', () => {
    if (!running) {
      running = true;
      post('Profiler.enable')
        .then(() => post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL_US || 500) }))
        .then(() => post('Profiler.start'))
        .catch((err) => process.stderr.write(`profiler start failed: ${err.message}\n`));
    } else {
      running = false;
      const file = path.join(dir, `profile-${++n}.cpuprofile`);
      post('Profiler.stop')
        .then((res) => {
          fs.writeFileSync(file, JSON.stringify(res.profile));
          fs.writeFileSync(`${file}.done`, '');
        })
        .catch((err) => process.stderr.write(`profiler stop failed: ${err.message}\n`));
    }
  });
}
