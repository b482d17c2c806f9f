import { main } from './main';

/** Exits once stdout and stderr have been written out (a pipe drains asynchronously). */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

main(process.argv.slice(2), process.env).then(exitAfterFlush, (err: Error) => {
  process.stderr.write(`queue-mutex: unexpected error: ${err?.message ?? String(err)}\n`);
  exitAfterFlush(70);
});
