import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { BODY_ERROR, RequestWithBodyError } from './common/body-error.guard';
import { daprCodeForStatus, isDaprPath, isDaprStatePath } from './common/dapr-error';
import { outOfRangeNumber, protoKey } from './common/json-body';
import { httpErrorName } from './common/http-exception.filter';
import { Lifecycle } from './common/lifecycle';
import { createValidationPipe } from './common/validation';

/** 4 MiB, as a Dapr sidecar accepts by default. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/**
 * Deepest nesting a body may have. Validation, JSON.stringify and the state-query compiler all
 * recurse over a body; thousands of levels would overflow their stacks (a 500), while no API here
 * needs more than a few levels.
 */
export const MAX_BODY_DEPTH = 128;
/**
 * Most array items and object members a body may hold, but for a Dapr state body (stored data,
 * read by hand-written checks in one pass). No request here needs more than a few hundred, and
 * class-transformer and class-validator take seconds of the event loop over 100,000.
 */
export const MAX_BODY_ITEMS = 10_000;

/**
 * An error found before Nest sees the request (routing, body reading), with the body every other
 * error of that route family has: Dapr's on Dapr routes, ours elsewhere.
 */
function sendEarlyError(req: FastifyRequest, reply: FastifyReply, status: number, message: string): void {
  const body = isDaprPath(req.url) ? { errorCode: daprCodeForStatus(status), message } : { statusCode: status, message, error: httpErrorName(status) };
  void reply.code(status).header('content-type', 'application/json; charset=utf-8').send(body);
}

/** Builds the application exactly as production runs it; tests call this too. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    // Dapr's own default (`dapr-http-max-request-size`, and the SDK's `maxBodySizeMb`): state
    // values its clients save through a sidecar must fit here too.
    bodyLimit: MAX_BODY_BYTES,
    // No Express-style middleware is bound to any route (the access log is a Fastify hook), so
    // @fastify/middie would only cost every request a pass over an empty list.
    skipMiddie: true,
    // Only behind a known proxy may X-Forwarded-For decide the client address (rate limits key on it).
    trustProxy: config.TRUST_PROXY,
    // On shutdown, close idle keep-alive connections instead of waiting for clients to drop them.
    forceCloseConnections: 'idle',
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Encoded slashes (`flxbl-io%2Fsf-core`) stay inside one path parameter.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1_000 },
    // Errors Fastify raises before routing (bad %-encoding, over-long parameters) get the same
    // bodies as every other error: Dapr's on Dapr routes, ours elsewhere.
    frameworkErrors: (error: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? 'The URL is not validly percent-encoded'
          : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
            ? 'A path parameter is longer than 1000 characters'
            : error.message;
      sendEarlyError(req, reply, status, message);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
    bodyParser: false, // replaced by parseEveryBodyAsJson below
  });
  parseEveryBodyAsJson(app);
  app.useLogger(app.get(Logger));
  const lifecycle = app.get(Lifecycle);
  const fastify = app.getHttpAdapter().getInstance();
  // Callback style: an async hook costs every answer a promise.
  fastify.addHook('onSend', (req, reply, _payload, done) => {
    reply.header('x-request-id', req.id);
    // While draining, a kept-alive socket would hold the shutdown open: ask the client to close it.
    if (lifecycle.closing) reply.header('connection', 'close');
    done();
  });
  logRequests(fastify, config);
  app.useGlobalPipes(createValidationPipe());
  app.enableCors({ origin: true, credentials: false });
  setupSwagger(app);
  return app;
}

/**
 * One access line per answer: failures at info (5xx at error), successes at debug only. Built
 * only when its level is enabled; URLs carry no secrets (keys travel in headers).
 */
function logRequests(fastify: FastifyInstance, config: AppConfig): void {
  if (config.LOG_LEVEL === 'silent') return;
  const successes = ['debug', 'trace'].includes(config.LOG_LEVEL);
  fastify.addHook('onResponse', (req, reply, done) => {
    const status = reply.statusCode;
    if (status >= 400 || successes) {
      // A 503 is PostgreSQL or Redis away (already logged once by whoever saw it) or a drain: warn.
      const level = status === 503 ? 'warn' : status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
      const logger = PinoLogger.root;
      if (logger?.isLevelEnabled(level)) {
        logger[level]({ reqId: req.id, method: req.method, url: req.url, statusCode: status, responseTime: Math.round(reply.elapsedTime) }, 'request completed');
      }
    }
    done();
  });
}

/**
 * Every request body is JSON, whatever its Content-Type says (as in Dapr, whose clients and
 * curl users often send none or text/plain). An empty body is no body, not an error.
 */
function parseEveryBodyAsJson(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  // Bodies are read as they come: a compressed one would reach the JSON parser as bytes (and
  // fail its length check with a misleading message). Callback style: no promise per request.
  fastify.addHook('onRequest', (req, reply, done) => {
    const encoding = req.headers['content-encoding'];
    if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return done();
    sendEarlyError(req, reply, 415, `Content-Encoding '${encoding}' is not supported: send the body uncompressed`);
  });
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    // The one body that is not JSON: a Dapr sidecar metadata attribute is set to the raw text.
    if (req.method === 'PUT' && req.url.startsWith('/v1.0/metadata/')) return done(null, body);
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    // Answered by BodyErrorGuard, after the key and role checks.
    const refuse = (message: string) => {
      (req as RequestWithBodyError)[BODY_ERROR] = message;
      done(null, undefined);
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return refuse('Request body is not valid JSON');
    }
    const stateData = isDaprStatePath(req.url);
    const shape = bodyShapeProblem(text, MAX_BODY_DEPTH, stateData ? Infinity : MAX_BODY_ITEMS);
    if (shape === 'depth') return refuse(`Request body nests arrays or objects deeper than ${MAX_BODY_DEPTH} levels`);
    if (shape === 'items') return refuse(`Request body has more than ${MAX_BODY_ITEMS} array items and object members`);
    const huge = outOfRangeNumber(text, parsed);
    if (huge !== null) return refuse(`Request body has a number too large for a 64-bit float at ${huge}`);
    // A `__proto__` key is refused (as Fastify's own parser does) except in Dapr state bodies:
    // there it is data, stored as given (as Dapr does), and nothing assigns those objects.
    const proto = stateData ? null : protoKey(text, parsed);
    if (proto !== null) return refuse(`Request body must not contain "__proto__" (at ${proto})`);
    done(null, parsed);
  });
}

/**
 * Whether valid JSON text nests deeper than `maxDepth`, or holds more than `maxItems` array
 * items and object members in all (counted by their separating commas, plus one per container).
 * A linear scan over the text (brackets inside strings skipped): a hostile body costs no recursion.
 */
export function bodyShapeProblem(json: string, maxDepth: number, maxItems: number): 'depth' | 'items' | null {
  let depth = 0;
  let items = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* backslash: skip the escaped character */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x2c /* , */) {
      if (++items > maxItems) return 'items';
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return 'depth';
      if (++items > maxItems) return 'items';
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return null;
}

function setupSwagger(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Queue mutex')
      .setDescription(
        'Fair FIFO locks with expiring leases for release pipelines. Speaks the sfp Locks API, ' +
          'the Dapr distributed lock and state APIs and the synchronize lock API. ' +
          'Authorise once with an API key (Bearer) to try every call.',
      )
      .setVersion('1.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'opaque API key (mtx_…)', description: 'API key' }, 'api-key')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'dapr-api-token' }, 'dapr-api-token')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
