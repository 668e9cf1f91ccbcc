// statsd-null-backend: a StatsD 0.9.0 backend that throws every flush away and only tells the
// benchmark how many lines the daemon has processed so far.
//
// StatsD resets its own `statsd.metrics_received` counter at every flush, so this backend keeps
// the running total. After each flush it writes one line to stdout:
//   hourglass-bench-flush {"metricsReceived":..,"packetsReceived":..,"badLines":..,"processingMs":..,"atMs":..}
// processingMs is the daemon's own measure of the flush work (time its socket went unread).
'use strict';

const MARKER = 'hourglass-bench-flush';

exports.init = function init(startupTime, config, events) {
  const prefix = config.prefixStats === undefined ? 'statsd' : config.prefixStats;
  const totals = { metricsReceived: 0, packetsReceived: 0, badLines: 0 };

  events.on('flush', (timestamp, metrics) => {
    totals.metricsReceived += metrics.counters[`${prefix}.metrics_received`] || 0;
    totals.packetsReceived += metrics.counters[`${prefix}.packets_received`] || 0;
    totals.badLines += metrics.counters[`${prefix}.bad_lines_seen`] || 0;
    const report = { ...totals, processingMs: metrics.statsd_metrics.processing_time, atMs: Date.now() };
    process.stdout.write(`${MARKER} ${JSON.stringify(report)}\n`);
  });
  return true;
};
