import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { Strategy as CustomStrategy } from 'passport-custom';
import { AuthService } from './auth.service';

/** `Authorization: Bearer <key>`. */
@Injectable()
export class BearerKeyStrategy extends PassportStrategy(BearerStrategy, 'bearer') {
  constructor(private readonly auth: AuthService) {
    super();
  }

  async validate(token: string) {
    return (await this.auth.verify(token)) ?? false;
  }
}

/** `dapr-api-token: <key>`, the header the Dapr SDKs send. */
@Injectable()
export class DaprTokenStrategy extends PassportStrategy(CustomStrategy, 'dapr-token') {
  constructor(private readonly auth: AuthService) {
    super();
  }

  async validate(req: { headers: Record<string, string | string[] | undefined> }) {
    const header = req.headers['dapr-api-token'];
    const token = Array.isArray(header) ? header[0] : header;
    if (!token) return false;
    return (await this.auth.verify(token)) ?? false;
  }
}
