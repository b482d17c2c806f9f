import 'reflect-metadata';
import { Logger } from 'nestjs-pino';
import { createApp } from './app.factory';
import { databaseUrlOf, loadConfig } from './config/app-config';
import { waitForDatabase } from './database/database-bootstrap';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  // Before Nest starts (its logs are buffered until the app is built): wait for PostgreSQL,
  // one JSON line per attempt, like the service's other logs.
  await waitForDatabase(databaseUrlOf(config), (msg) => process.stdout.write(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, msg })}\n`));
  const app = await createApp(config);
  await app.listen(config.PORT, config.HOST);

  // Drain and exit 0 on SIGTERM/SIGINT: long-polls are answered, the HTTP server stops,
  // BullMQ workers and connections close (Nest's hooks, in that order).
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.get(Logger).log(`${signal}: shutting down`);
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`Failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
