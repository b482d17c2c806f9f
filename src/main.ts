import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { createApp } from './app.factory';
import { AppConfig, databaseUrlOf, loadConfig } from './config/app-config';
import { waitForDatabase } from './database/database-bootstrap';
import { EmbeddedPostgres } from './database/embedded-postgres';
import { RedisConnections } from './redis/redis-connections';

/** A log line in the service's JSON format, for what happens before Nest's logger exists. */
function earlyLog(level: 'info' | 'warn' | 'error', msg: string): void {
  const levels = { info: 30, warn: 40, error: 50 };
  process.stdout.write(`${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, msg })}\n`);
}

let embedded: EmbeddedPostgres | undefined;

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    // Human-readable logs when a person watches the terminal, JSON otherwise (unless LOG_PRETTY says).
    config = loadConfig({ LOG_PRETTY: process.stdout.isTTY ? 'true' : undefined, ...process.env });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  if (!config.DATABASE_URL) {
    embedded = new EmbeddedPostgres(config.DATA_DIR, (level, msg) => earlyLog(level, msg));
    config.DATABASE_URL = await embedded.start();
  }
  // Before Nest starts (its logs are buffered until the app is built): wait for PostgreSQL,
  // one JSON line per attempt, like the service's other logs.
  await waitForDatabase(databaseUrlOf(config), (msg) => earlyLog('warn', msg));
  const app = await createApp(config);
  await app.listen(config.PORT, config.HOST);
  const logger = app.get(Logger);
  logger.log(startLine(config, app.get(RedisConnections), embedded));

  // Drain and exit 0 on SIGTERM/SIGINT: long-polls are answered, the HTTP server stops,
  // BullMQ workers and connections close (Nest's hooks, in that order), then the embedded
  // PostgreSQL, if any, stops.
  let stopping = false;
  const stop = (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${why}: shutting down`);
    const force = setTimeout(() => process.exit(1), 20_000 + (embedded ? 30_000 : 0));
    force.unref();
    app
      .close()
      .then(() => embedded?.stop())
      .then(
        () => process.exit(code),
        () => process.exit(1),
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  embedded?.onUnexpectedExit((code) => {
    logger.error(`the embedded PostgreSQL exited (code ${code}): the service cannot go on without it`);
    stop('embedded PostgreSQL gone', 1);
  });
}

/** The one line that tells where the service listens and what it runs on. */
function startLine(config: AppConfig, redis: RedisConnections, pg?: EmbeddedPostgres): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? `${config.HOST} (every interface)` : config.HOST;
  const database = pg
    ? `embedded PostgreSQL ${pg.version} in ${pg.clusterDir} on 127.0.0.1:${pg.port} (for this one instance; set DATABASE_URL to share a PostgreSQL between instances)`
    : `PostgreSQL at ${describeDatabase(databaseUrlOf(config))}`;
  const cache = redis.configured
    ? `Redis ${redis.describe()}`
    : 'no Redis (one instance: timers, the sweep and PostgreSQL NOTIFY; set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES to run several)';
  return `queue-mutex listening on http://${host}:${config.PORT}; database: ${database}; ${cache}; migrations applied`;
}

/** host:port/database, without credentials. */
function describeDatabase(url: string): string {
  const u = new URL(url);
  return `${decodeURIComponent(u.host) || 'local socket'}${u.pathname}`;
}

main().catch(async (err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  await embedded?.stop().catch(() => undefined);
  process.exit(1);
});
