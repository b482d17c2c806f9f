import { ArgumentsHost } from '@nestjs/common';
import { DatabaseError } from 'pg';
import { HttpExceptionFilter } from './http-exception.filter';

/** Runs the filter on one error for a request to `url`; returns what it sent. */
function answer(exception: unknown, url = '/sfp/api/locks') {
  const sent: { status?: number; body?: any } = {};
  const reply = {
    status(code: number) {
      sent.status = code;
      return reply;
    },
    header: () => reply,
    send(body: unknown) {
      sent.body = body;
    },
  };
  const host = { switchToHttp: () => ({ getRequest: () => ({ url, method: 'POST', id: 'req-1' }), getResponse: () => reply }) } as unknown as ArgumentsHost;
  new HttpExceptionFilter().catch(exception, host);
  return sent;
}

const pgError = (code: string, message: string) => Object.assign(new DatabaseError(message, 0, 'error'), { code });

describe('HttpExceptionFilter', () => {
  it('answers a PostgreSQL data exception from the driver (a NUL in text) with 400, not 500', () => {
    const nul = answer(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'));
    expect(nul).toEqual({ status: 400, body: { statusCode: 400, message: 'Text must not contain NUL (\\u0000) characters', error: 'Bad Request' } });
    expect(answer(pgError('22003', 'integer out of range')).status).toBe(400);
  });

  it('answers the same on Dapr routes with a Dapr error body', () => {
    expect(answer(pgError('22P05', 'unsupported Unicode escape sequence'), '/v1.0/state/statestore')).toEqual({
      status: 400,
      body: { errorCode: 'ERR_MALFORMED_REQUEST', message: 'Text must not contain NUL (\\u0000) characters' },
    });
  });

  it('keeps other database errors a 500 without internals', () => {
    const r = answer(pgError('42703', 'column "id" does not exist'));
    expect(r.status).toBe(500);
    expect(JSON.stringify(r.body)).not.toContain('column');
  });
});
