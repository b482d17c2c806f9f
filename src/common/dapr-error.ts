import { HttpException } from '@nestjs/common';

/** An error answered in Dapr's wire format: `{"errorCode": "...", "message": "..."}`. */
export class DaprError extends HttpException {
  constructor(
    status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super({ errorCode, message }, status);
  }
}

/** Routes that must answer with Dapr's error bodies. */
export function isDaprPath(url: string): boolean {
  return url.startsWith('/v1.0/') || url.startsWith('/v1.0-alpha1/') || url === '/v1.0';
}

/** The Dapr state routes (save, bulk get, transaction, query), where a body is stored data. */
export function isDaprStatePath(url: string): boolean {
  return url.startsWith('/v1.0/state/') || url.startsWith('/v1.0-alpha1/state/');
}

/** The errorCode Dapr uses for a generic failure of a given status, where the route set none. */
export function daprCodeForStatus(status: number): string {
  if (status === 401) return 'ERR_UNAUTHORIZED';
  if (status === 403) return 'ERR_PERMISSION_DENIED';
  if (status === 404) return 'ERR_NOT_FOUND';
  if (status === 429) return 'ERR_TOO_MANY_REQUESTS';
  if (status === 503) return 'ERR_SERVICE_UNAVAILABLE';
  if (status >= 400 && status < 500) return 'ERR_MALFORMED_REQUEST';
  return 'ERR_INTERNAL';
}
