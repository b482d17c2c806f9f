import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeFlagsOf } from './service';

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('the node options a build ships with', () => {
  it("are read from start:prod's node command, before the entry point", () => {
    const of = (script: string) => nodeFlagsOf(JSON.stringify({ scripts: { 'start:prod': script } }));
    expect(of('node dist/src/main')).toEqual([]);
    expect(of('node --max-semi-space-size=32 dist/src/main')).toEqual(['--max-semi-space-size=32']);
    expect(of('NODE_ENV=production node  --a=1   --b dist/src/main.js')).toEqual(['--a=1', '--b']);
    expect(of('nest start')).toEqual([]);
    expect(nodeFlagsOf('{}')).toEqual([]);
  });

  it('are the same for npm start, npm run start:prod and the container image', () => {
    const flags = nodeFlagsOf(JSON.stringify(pkg));
    expect(flags).toContain('--max-semi-space-size=32');
    expect(pkg.scripts.start).toBe(`exec node ${flags.join(' ')} scripts/start.js`);
    const cmd = /^CMD (\[.*\])$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    expect(JSON.parse(cmd![1])).toEqual(['node', ...flags, 'dist/src/main']);
  });
});
