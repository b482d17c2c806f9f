/** True when an error means PostgreSQL or Redis cannot be reached (answer 503, not 500). */
export function isUnavailableError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: string; message?: string; driverError?: unknown; name?: string };
  if (e.driverError && isUnavailableError(e.driverError)) return true;
  const code = e.code ?? '';
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'].includes(code)) return true;
  // 57P01-57P03: admin shutdown / crash shutdown / cannot connect now; 08xxx: connection exceptions; 53300: too many connections
  if (/^(57P0[1-3]|08\d\d\d|53300)$/.test(code)) return true;
  const message = e.message ?? '';
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Connection is closed|Driver not Connected|Stream isn't writeable|Reached the max retries per request|ECONNREFUSED/i.test(
    message,
  );
}
