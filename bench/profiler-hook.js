// Loaded into the server by `BENCH_PROFILE=<dir> npm run bench` (node -r): SIGUSR2 starts a CPU profile of the
// main thread, the next SIGUSR2 writes it to <dir>/<n>.cpuprofile. The benchmark signals around each measured
// window, so a profile shows one workload and nothing else.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const inspector = require('node:inspector');

const dir = process.env.BENCH_PROFILE_DIR;
const session = new inspector.Session();
session.connect();
let running = false;
let n = 0;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')));
    return;
  }
  running = false;
  session.post('Profiler.stop', (err, result) => {
    if (!err) fs.writeFileSync(path.join(dir, `${++n}.cpuprofile`), JSON.stringify(result.profile));
  });
});
