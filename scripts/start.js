// `npm start`: runs the compiled service with node, compiling it first only when dist/ is
// missing or older than its sources (`nest start` would recompile at every start).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist', 'src', 'main.js');
const SOURCES = ['src', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package-lock.json'];

/** The newest modification time of a file, or of any file under a folder. */
function newest(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(p).reduce((max, name) => Math.max(max, newest(path.join(p, name))), stat.mtimeMs);
}

const built = fs.existsSync(main) ? fs.statSync(main).mtimeMs : 0;
if (built === 0 || SOURCES.some((s) => newest(path.join(root, s)) > built)) {
  let nest;
  try {
    nest = require.resolve('@nestjs/cli/bin/nest.js', { paths: [root] });
  } catch {
    process.stderr.write('queue-mutex: dist/ is missing or stale and @nestjs/cli is not installed: run `npm ci` (with dev dependencies), or `npm run build` where it is\n');
    process.exit(1);
  }
  process.stderr.write(`queue-mutex: compiling (${built === 0 ? 'no dist/ yet' : 'dist/ is older than the sources'}) ...\n`);
  const build = spawnSync(process.execPath, [nest, 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
require(main);
