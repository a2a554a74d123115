// Mocha's spec reporter plus the closing line CI reads: "N passed, N failed, N skipped".
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class OverlayReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    let pending = 0;
    runner.on(EVENT_TEST_PENDING, () => pending++);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      // Hook failures count as failures too (mocha counts them in stats.failures).
      process.stdout.write(`\n${s.passes || 0} passed, ${s.failures || 0} failed, ${pending} skipped\n`);
    });
  }
}
module.exports = OverlayReporter;
