'use strict';
/**
 * Experiments only (BENCH_VARIANT_ABLATE=...): preloaded into a *second* service instance to
 * estimate what a change would gain, without touching src/. Each ablation breaks a guarantee
 * (timers, cross-instance wake-ups, metrics), so the variant is only used for the throughput
 * workloads and is never reported as "the service".
 *
 *   bullmq   Queue.add / Queue.remove resolve at once (no lease/wait timer jobs in Redis)
 *   publish  ioredis publish resolves at once (no cross-instance wake-up messages)
 *   metrics  prom-client Counter/Gauge/Histogram updates do nothing
 *   pinohttp pino-http's per-request middleware is skipped (req.log still exists)
 */
const list = (process.env.BENCH_ABLATE || '').split(',').map((s) => s.trim()).filter(Boolean);

for (const what of list) {
  switch (what) {
    case 'bullmq': {
      const { Queue } = require('bullmq');
      Queue.prototype.add = async function (name, data, opts) {
        return { id: opts && opts.jobId, name, data };
      };
      Queue.prototype.remove = async function () {
        return 1;
      };
      break;
    }
    case 'publish': {
      const Redis = require('ioredis').default || require('ioredis');
      Redis.prototype.publish = function () {
        return Promise.resolve(0);
      };
      break;
    }
    case 'metrics': {
      const prom = require('prom-client');
      for (const cls of [prom.Counter, prom.Gauge, prom.Histogram, prom.Summary]) {
        for (const m of ['inc', 'dec', 'set', 'observe']) if (cls.prototype[m]) cls.prototype[m] = function () {};
      }
      break;
    }
    case 'pinohttp': {
      // nestjs-pino looks up require('pino-http').pinoHttp when the module is built.
      const m = require('pino-http');
      const real = m.pinoHttp;
      m.pinoHttp = function (...args) {
        const mw = real(...args);
        const quiet = function (req, res, next) {
          req.log = res.log = mw.logger;
          if (next) next();
        };
        quiet.logger = mw.logger;
        return quiet;
      };
      break;
    }
    default:
      process.stderr.write(`ablate-preload: unknown ablation '${what}'\n`);
  }
}
if (list.length) process.stderr.write(`ablate-preload: ${list.join(', ')} disabled (experiment)\n`);
