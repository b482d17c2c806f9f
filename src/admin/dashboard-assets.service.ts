import { Injectable, NotFoundException } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Asset {
  body: string;
  headers: Record<string, string>;
}

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
};

/**
 * Defence in depth behind the page's own escaping: only our own script and styles run,
 * and the page only talks to this service.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/** The dashboard's files (src/admin/dashboard, copied beside the compiled code by nest-cli). */
@Injectable()
export class DashboardAssetsService {
  private readonly dir = join(__dirname, 'dashboard');
  private readonly cache = new Map<string, Asset>();

  get(name: string): Asset {
    const type = TYPES[name];
    if (!type) throw new NotFoundException('No such dashboard file');
    let asset = this.cache.get(name);
    if (!asset) {
      asset = { body: readFileSync(join(this.dir, name), 'utf8'), headers: { 'content-type': type, ...SECURITY_HEADERS } };
      this.cache.set(name, asset);
    }
    return asset;
  }
}
