// Preloaded into one daemon by bench/scale --cpu-prof-host (NODE_OPTIONS=--require, since Node
// refuses --cpu-prof there): a V8 CPU profile of the whole run, written to BERTH_CPU_PROF when
// the process exits. The in-thread inspector session answers synchronously, so 'exit' can wait.
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');
const out = process.env.BERTH_CPU_PROF;
if (out) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFileSync(out, JSON.stringify(res.profile));
    });
  });
}
