import { Logger } from '@nestjs/common';
import { JobSchedulerTemplateOptions, Queue } from 'bullmq';

/**
 * Keeps a BullMQ job scheduler (fixed id, one for all instances) in Redis: upserted now without
 * waiting (a Redis outage at start must not keep the API down) and again every `refreshMs`, so a
 * Redis that lost its data gets it back. Returns the function that stops the refreshing.
 */
export function keepJobScheduler(
  queue: Queue,
  schedulerId: string,
  everyMs: number,
  template: { name: string; opts?: JobSchedulerTemplateOptions },
  refreshMs: number,
  logger: Logger,
): () => void {
  const upsert = () =>
    void queue.upsertJobScheduler(schedulerId, { every: everyMs }, template).catch((err) => logger.warn(`cannot schedule ${schedulerId}: ${err.message}`));
  upsert();
  const timer = setInterval(upsert, refreshMs);
  timer.unref();
  return () => clearInterval(timer);
}
