/**
 * Loaded with `node --import` into the process the export bench measures (export.ts): when that
 * process exits, writes its own peak RSS and CPU time, as the kernel counted them, to the file
 * `BENCH_EXPORT_PROBE_FILE` names (a sampler outside the process could miss a short peak), and
 * the largest V8 heap and external memory seen every 100 ms, which say where the RSS is.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_EXPORT_PROBE_FILE;
if (file) {
  const peak = { heapTotal: 0, heapUsed: 0, external: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    peak.heapTotal = Math.max(peak.heapTotal, usage.heapTotal);
    peak.heapUsed = Math.max(peak.heapUsed, usage.heapUsed);
    peak.external = Math.max(peak.external, usage.external);
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    const usage = process.resourceUsage();
    // maxRSS is in kilobytes; CPU times in microseconds; the heap figures in bytes.
    writeFileSync(file, JSON.stringify({ maxRssKiB: usage.maxRSS, userCpuUs: usage.userCPUTime, systemCpuUs: usage.systemCPUTime, peak }));
  });
}
