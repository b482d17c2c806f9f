import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/roles.decorator';
import { AppConfig } from '../config/app-config';

/** The probes a Dapr SDK calls before anything else: we answer as a sidecar would. */
@ApiTags('Dapr sidecar')
@Controller('v1.0')
export class DaprSidecarController {
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
      extended: {},
    };
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
