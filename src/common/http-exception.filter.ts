import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { DaprError, daprCodeForStatus, isDaprPath } from './dapr-error';
import { isUnavailableError } from './unavailable';

interface Reply {
  status(code: number): Reply;
  header(name: string, value: string): Reply;
  send(body: unknown): void;
  sent?: boolean;
}

/**
 * One place that turns every error into an answer: Nest-style JSON on our routes, Dapr's
 * `{errorCode, message}` on Dapr routes; a dead database or Redis is a 503; anything
 * unexpected is a 500 with no internals, logged with the request id.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<{ url: string; method: string; id?: string }>();
    const reply = ctx.getResponse<Reply>();
    if (reply.sent) return;
    const url = req?.url ?? '';
    const { status, body } = this.describe(exception, req);
    if (isDaprPath(url)) {
      const errorCode = exception instanceof DaprError ? exception.errorCode : daprCodeForStatus(status);
      reply.status(status).header('content-type', 'application/json').send({ errorCode, message: body.message });
      return;
    }
    reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  private describe(exception: unknown, req: { method: string; url: string; id?: string }) {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const base = typeof response === 'string' ? { message: response } : (response as Record<string, unknown>);
      const message = Array.isArray(base.message) ? base.message.join('; ') : String(base.message ?? exception.message);
      return { status, body: { ...base, statusCode: status, message, error: base.error ?? httpErrorName(status) } };
    }
    const fastifyStatus = (exception as { statusCode?: number })?.statusCode;
    if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
      const message = (exception as Error).message;
      return { status: fastifyStatus, body: { statusCode: fastifyStatus, message, error: httpErrorName(fastifyStatus) } };
    }
    if (isUnavailableError(exception)) {
      this.logger.warn(`${req.method} ${req.url} [${req.id}]: dependency unavailable: ${(exception as Error).message}`);
      const status = HttpStatus.SERVICE_UNAVAILABLE;
      return { status, body: { statusCode: status, message: 'Service unavailable: the database or Redis cannot be reached; retry shortly', error: 'Service Unavailable' } };
    }
    const sqlState = (exception as { code?: string })?.code ?? '';
    if ((exception instanceof QueryFailedError || exception instanceof DatabaseError) && /^22/.test(sqlState)) {
      // Data exceptions (bad number, out of range, a NUL in text) come from input our validation let through.
      const message = sqlState === '22021' || sqlState === '22P05' ? 'Text must not contain NUL (\\u0000) characters' : 'Invalid input value';
      return { status: 400, body: { statusCode: 400, message, error: 'Bad Request' } };
    }
    this.logger.error({ err: exception, requestId: req.id }, `${req.method} ${req.url} failed`);
    return { status: 500, body: { statusCode: 500, message: 'Internal server error', error: 'Internal Server Error', requestId: req.id } };
  }
}

export function httpErrorName(status: number): string {
  const names: Record<number, string> = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    409: 'Conflict', 413: 'Payload Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
    500: 'Internal Server Error', 503: 'Service Unavailable',
  };
  return names[status] ?? 'Error';
}
