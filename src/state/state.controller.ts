import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiExcludeEndpoint,
  ApiForbiddenResponse,
  ApiInternalServerErrorResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiSecurity,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/roles.decorator';
import { StateStoreAccessGuard } from './state-store-access.guard';
import { etagFromIfMatch } from './state-request.validator';
import { BulkStateItem, StateService } from './state.service';

type QueryParams = Record<string, unknown>;

const STATE_ITEM_SCHEMA = {
  type: 'object',
  required: ['key', 'value'],
  properties: {
    key: { type: 'string', example: 'order-1' },
    value: { description: 'Any JSON value', example: { status: 'shipped', total: 42 } },
    etag: { type: 'string', description: 'Must match the stored etag' },
    metadata: { type: 'object', additionalProperties: { type: 'string' }, example: { ttlInSeconds: '3600' } },
    options: {
      type: 'object',
      properties: {
        concurrency: { type: 'string', enum: ['first-write', 'last-write'] },
        consistency: { type: 'string', enum: ['eventual', 'strong'] },
      },
    },
  },
};

/**
 * Dapr State Management API: thin HTTP mapping onto StateService. Bodies are read as
 * `unknown` and checked by hand so every failure has Dapr's `{errorCode, message}` shape.
 */
@ApiTags('Dapr state')
@ApiBearerAuth('api-key')
@ApiSecurity('dapr-api-token')
@ApiUnauthorizedResponse({ description: 'Missing or invalid API key' })
@ApiForbiddenResponse({ description: "Requires role: owner, application; a key limited to repositories needs one matching the store's name" })
@ApiBadRequestResponse({ description: 'ERR_STATE_STORE_NOT_FOUND or ERR_MALFORMED_REQUEST' })
@Roles('owner', 'application')
@UseGuards(StateStoreAccessGuard)
@Controller()
export class StateController {
  constructor(private readonly state: StateService) {}

  @Post('v1.0/state/:store')
  @HttpCode(204)
  @ApiOperation({ summary: 'Save state', description: 'Query parameters `metadata.X` apply to every item (e.g. `metadata.ttlInSeconds`).' })
  @ApiBody({ schema: { type: 'array', items: STATE_ITEM_SCHEMA } })
  @ApiNoContentResponse({ description: 'Saved' })
  @ApiConflictResponse({ description: 'ERR_STATE_SAVE: etag mismatch or first-write conflict; nothing saved' })
  save(@Param('store') store: string, @Body() body: unknown, @Query() query: QueryParams): Promise<void> {
    return this.state.save(store, body, query);
  }

  @Post('v1.0/state/:store/bulk')
  @HttpCode(200)
  @ApiOperation({ summary: 'Get bulk state' })
  @ApiBody({ schema: { type: 'object', properties: { keys: { type: 'array', items: { type: 'string' } }, parallelism: { type: 'integer' } } } })
  @ApiOkResponse({
    description: 'One item per key, in order; a missing key has no data',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        properties: { key: { type: 'string' }, data: {}, etag: { type: 'string' }, error: { type: 'string' }, metadata: { type: 'object', additionalProperties: { type: 'string' } } },
      },
    },
  })
  bulk(@Param('store') store: string, @Body() body: unknown): Promise<BulkStateItem[]> {
    return this.state.bulkGet(store, body);
  }

  @Post('v1.0/state/:store/transaction')
  @HttpCode(204)
  @ApiOperation({ summary: 'Execute a state transaction', description: 'upsert and delete operations, applied in order, all or nothing.' })
  @ApiBody({
    schema: {
      type: 'object',
      properties: {
        operations: {
          type: 'array',
          items: { type: 'object', properties: { operation: { type: 'string', enum: ['upsert', 'delete'] }, request: STATE_ITEM_SCHEMA } },
        },
        metadata: { type: 'object', additionalProperties: { type: 'string' }, nullable: true },
      },
    },
  })
  @ApiNoContentResponse({ description: 'Applied' })
  @ApiInternalServerErrorResponse({ description: 'ERR_STATE_TRANSACTION: an operation failed (etag mismatch included); nothing applied' })
  transaction(@Param('store') store: string, @Body() body: unknown, @Query() query: QueryParams): Promise<void> {
    return this.state.transaction(store, body, query);
  }

  @Post(['v1.0-alpha1/state/:store/query', 'v1.0/state/:store/query'])
  @ApiOperation({ summary: 'Query state', description: 'Filters EQ, NEQ, GT, GTE, LT, LTE, IN, AND, OR on dot paths into the values; sort; page.' })
  @ApiBody({
    schema: {
      type: 'object',
      example: { filter: { EQ: { 'person.org': 'Dev Ops' } }, sort: [{ key: 'person.id', order: 'DESC' }], page: { limit: 10 } },
    },
  })
  @ApiOkResponse({
    description: 'Matching items; `token` only when more may follow',
    schema: {
      type: 'object',
      properties: {
        results: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, data: {}, etag: { type: 'string' } } } },
        token: { type: 'string' },
      },
    },
  })
  @ApiNoContentResponse({ description: 'No results' })
  async query(@Param('store') store: string, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const result = await this.state.query(store, body);
    if (!result) return void reply.status(204).send();
    reply.status(200).send(result);
  }

  @Get('v1.0/state/:store/:key')
  @ApiOperation({ summary: 'Get state', description: 'Keys are URL-encoded (`a%2Fb` for `a/b`).' })
  @ApiParam({ name: 'key', description: 'URL-encoded key' })
  @ApiQuery({ name: 'consistency', required: false, enum: ['eventual', 'strong'] })
  @ApiOkResponse({
    description: 'The stored JSON value; `ETag` header; `metadata.ttlExpireTime` header when it has a TTL',
    schema: { description: 'Any JSON value, as saved' },
  })
  @ApiNoContentResponse({ description: 'No such key (or it expired)' })
  get(@Param('store') store: string, @Param('key') key: string, @Query() query: QueryParams, @Res() reply: FastifyReply): Promise<void> {
    return this.sendState(store, key, query, reply);
  }

  /** Clients (the JS SDK among them) may send a key containing `/` unencoded. */
  @Get('v1.0/state/:store/*')
  @ApiExcludeEndpoint()
  getNested(@Param('store') store: string, @Param('*') key: string, @Query() query: QueryParams, @Res() reply: FastifyReply): Promise<void> {
    return this.sendState(store, key, query, reply);
  }

  @Delete('v1.0/state/:store/:key')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete state', description: 'Etag in `If-Match`; a missing key is a success.' })
  @ApiParam({ name: 'key', description: 'URL-encoded key' })
  @ApiQuery({ name: 'concurrency', required: false, enum: ['first-write', 'last-write'] })
  @ApiQuery({ name: 'consistency', required: false, enum: ['eventual', 'strong'] })
  @ApiNoContentResponse({ description: 'Deleted, or there was nothing to delete' })
  @ApiConflictResponse({ description: 'ERR_STATE_DELETE: etag mismatch' })
  delete(
    @Param('store') store: string,
    @Param('key') key: string,
    @Query() query: QueryParams,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    return this.state.delete(store, key, query, etagFromIfMatch(ifMatch));
  }

  @Delete('v1.0/state/:store/*')
  @HttpCode(204)
  @ApiExcludeEndpoint()
  deleteNested(
    @Param('store') store: string,
    @Param('*') key: string,
    @Query() query: QueryParams,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<void> {
    return this.state.delete(store, key, query, etagFromIfMatch(ifMatch));
  }

  /** The value goes out as stored JSON text: a string value is `"hello"`, not `hello`. */
  private async sendState(store: string, key: string, query: QueryParams, reply: FastifyReply): Promise<void> {
    const found = await this.state.get(store, key, query);
    if (!found) return void reply.status(204).send();
    reply.header('etag', found.etag);
    if (found.ttlExpireTime) reply.header('metadata.ttlExpireTime', found.ttlExpireTime);
    reply.status(200).header('content-type', 'application/json').send(found.json);
  }
}
