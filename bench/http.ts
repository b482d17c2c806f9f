import http from 'node:http';

export interface HttpResponse<T = any> {
  status: number;
  body: T;
  text: string;
}

export class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly text: string,
  ) {
    super(message);
  }
}

/**
 * A tiny JSON client over node:http with one keep-alive agent, so both systems under test are
 * driven the same cheap way (no fetch/undici overhead, sockets reused, Nagle off).
 */
export class JsonClient {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    private readonly headers: Record<string, string> = {},
    maxSockets = 64,
  ) {
    const url = new URL(baseUrl);
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost') throw new Error(`bench talks to loopback only, not ${url.hostname}`);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  }

  request<T = any>(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<HttpResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { ...this.headers, accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: any = undefined;
          if (text.length > 0) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
        });
        res.on('error', reject);
      });
      req.setNoDelay(true);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Like request, but throws unless the status is one of `ok`. */
  async expect<T = any>(ok: number[], method: string, path: string, body?: unknown, timeoutMs?: number): Promise<HttpResponse<T>> {
    const res = await this.request<T>(method, path, body, timeoutMs);
    if (!ok.includes(res.status)) {
      throw new HttpError(`${method} ${path} -> ${res.status}: ${res.text.slice(0, 300)}`, res.status, res.text);
    }
    return res;
  }

  close(): void {
    this.agent.destroy();
  }
}
