import { Controller, Get, Param, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/roles.decorator';
import { DashboardAssetsService } from './dashboard-assets.service';

/** The owner's dashboard: a static page; its data comes from the admin API with the key typed in. */
@ApiTags('Dashboard')
@Public()
@Controller('dashboard')
export class DashboardController {
  constructor(private readonly assets: DashboardAssetsService) {}

  @Get()
  @ApiOperation({
    summary: 'Dashboard web page (no key needed to load it)',
    description: 'Sign in with an API key: locks with holder, lease countdown and queue, pools with their members and queue, audit trail, force clear (owner, application).',
  })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'The page', schema: { type: 'string' } })
  page(@Res({ passthrough: true }) reply: FastifyReply): string {
    return send(reply, this.assets.get('index.html'));
  }

  @Get(':file')
  @ApiExcludeEndpoint()
  file(@Param('file') file: string, @Res({ passthrough: true }) reply: FastifyReply): string {
    return send(reply, this.assets.get(file));
  }
}

function send(reply: FastifyReply, asset: { body: string; headers: Record<string, string> }): string {
  reply.headers(asset.headers);
  return asset.body;
}
