import { Body, Controller, Get, HttpCode, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { DaprError } from '../common/dapr-error';
import { Public } from '../auth/roles.decorator';
import { AppConfig } from '../config/app-config';

/** Attributes a client may set (PUT /v1.0/metadata/{name}), and their sizes: a sidecar's own labels, not a store. */
const MAX_ATTRIBUTES = 100;
const MAX_ATTRIBUTE_NAME = 200;
const MAX_ATTRIBUTE_VALUE = 4_096;

/** The probes a Dapr SDK calls before anything else: we answer as a sidecar would. */
@ApiTags('Dapr sidecar')
@Controller('v1.0')
export class DaprSidecarController {
  /** Like a sidecar's, this instance's own (each instance is a sidecar of its own), kept in memory. */
  private readonly extended = new Map<string, string>();

  constructor(private readonly config: AppConfig) {}

  @Get('metadata')
  @ApiBearerAuth('api-key')
  @ApiSecurity('dapr-api-token')
  @ApiOperation({ summary: 'Sidecar metadata', description: 'What a Dapr SDK polls before its first call (it sends its dapr-api-token).' })
  @ApiOkResponse({ description: 'Describes the configured lock and state stores', schema: { type: 'object', properties: { id: { type: 'string' }, components: { type: 'array', items: { type: 'object' } } } } })
  metadata() {
    return {
      id: this.config.APP_NAME ?? 'queue-mutex',
      runtimeVersion: 'queue-mutex-1.0',
      enabledFeatures: [],
      actors: [],
      components: [
        ...this.config.DAPR_LOCK_STORES.map((name) => ({ name, type: 'lock.postgresql', version: 'v1', capabilities: [] })),
        ...this.config.DAPR_STATE_STORES.map((name) => ({
          name,
          type: 'state.postgresql',
          version: 'v1',
          capabilities: ['ETAG', 'TRANSACTIONAL', 'QUERY_API', 'TTL'],
        })),
      ],
      subscriptions: [],
      httpEndpoints: [],
      extended: Object.fromEntries(this.extended),
    };
  }

  @Put('metadata/:name')
  @ApiBearerAuth('api-key')
  @ApiSecurity('dapr-api-token')
  @ApiOperation({ summary: 'Set a sidecar metadata attribute', description: 'The raw body becomes the value of `extended.{name}` in GET /v1.0/metadata (of this instance).' })
  @ApiParam({ name: 'name', description: 'Attribute name' })
  @ApiBody({ schema: { type: 'string' }, description: 'The value, as raw text' })
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Set' })
  setMetadata(@Param('name') name: string, @Body() body: unknown): void {
    const value = typeof body === 'string' ? body : '';
    if (name.length > MAX_ATTRIBUTE_NAME) throw new DaprError(400, 'ERR_MALFORMED_REQUEST', `metadata attribute name must be at most ${MAX_ATTRIBUTE_NAME} characters`);
    if (value.length > MAX_ATTRIBUTE_VALUE) throw new DaprError(400, 'ERR_MALFORMED_REQUEST', `metadata attribute value must be at most ${MAX_ATTRIBUTE_VALUE} characters`);
    if (!this.extended.has(name) && this.extended.size >= MAX_ATTRIBUTES) {
      throw new DaprError(400, 'ERR_MALFORMED_REQUEST', `at most ${MAX_ATTRIBUTES} metadata attributes can be set`);
    }
    this.extended.set(name, value);
  }

  @Get('healthz')
  @Public()
  @ApiOperation({ summary: 'Sidecar health' })
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Ready' })
  healthz(): void {}

  @Get('healthz/outbound')
  @Public()
  @ApiOperation({ summary: 'Sidecar outbound health' })
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Ready' })
  outbound(): void {}
}
