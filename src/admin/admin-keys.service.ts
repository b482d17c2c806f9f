import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { ApiKeyEntity } from '../auth/api-key.entity';
import { AuthService } from '../auth/auth.service';
import { KeyHasher } from '../auth/key-hasher';
import { Principal, repositoriesCover } from '../auth/principal';
import { UserEntity } from '../auth/user.entity';
import { assertManages } from '../auth/users.service';
import { PgPool } from '../database/pg-pool';
import { CreatedKeyDto, CreateKeyDto, KeyDto, KeyPageDto, KeysQueryDto, KeyStatus } from './dto/admin-key.dto';
import { SqlWhereBuilder, statementName } from './sql-where.builder';

const STATUS_SQL = `CASE WHEN k.revoked_at IS NOT NULL OR u.revoked_at IS NOT NULL THEN 'revoked'
                         WHEN k.expires_at IS NOT NULL AND k.expires_at <= now() THEN 'expired'
                         ELSE 'active' END`;

type Raw = Record<string, any>;
const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

/**
 * API keys of existing users, for owners: list, issue one more, revoke one. Only the SHA-256
 * of a key is stored; a revocation drops verified-key caches on every instance at once.
 */
@Injectable()
export class AdminKeysService {
  constructor(
    private readonly pg: PgPool,
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly hasher: KeyHasher,
    private readonly auth: AuthService,
  ) {}

  async list(q: KeysQueryDto, by: Principal): Promise<KeyPageDto> {
    const limit = q.limit ?? 100;
    const offset = q.offset ?? 0;
    const w = new SqlWhereBuilder();
    if (by.repositories !== null) {
      // A limited owner sees the keys of the users it manages (see assertManages); users are few.
      const users = await this.users.find({ select: { id: true, repositories: true } });
      const ids = users.filter((u) => repositoriesCover(by.repositories, u.repositories)).map((u) => u.id);
      w.and((p) => `k.user_id = ANY(${p(ids)}::uuid[])`);
    }
    if (q.userId) w.and((p) => `k.user_id = ${p(q.userId)}::uuid`);
    if (q.status) w.and((p) => `(${STATUS_SQL}) = ${p(q.status)}`);
    const text = `
      WITH f AS (
        SELECT k.id, k.key_prefix, k.created_at, k.expires_at, k.last_used_at, COALESCE(k.revoked_at, u.revoked_at) AS revoked_at,
               ${STATUS_SQL} AS status, u.id AS user_id, u.name AS user_name, u.role AS user_role, u.kind AS user_kind,
               u.repositories AS user_repositories
          FROM api_keys k JOIN users u ON u.id = k.user_id
          ${w.sql()}
      )
      SELECT (SELECT count(*)::integer FROM f) AS total,
             COALESCE((SELECT jsonb_agg(to_jsonb(pg) ORDER BY pg.created_at DESC, pg.id)
                         FROM (SELECT * FROM f ORDER BY created_at DESC, id LIMIT ${w.param(limit)} OFFSET ${w.param(offset)}) pg), '[]'::jsonb) AS items`;
    const [row] = await this.pg.query<Raw>(statementName('admin_keys', text), text, w.values);
    return { total: row.total, limit, offset, items: (row.items as Raw[]).map(toKeyDto) };
  }

  async create(dto: CreateKeyDto, by: Principal): Promise<CreatedKeyDto> {
    if (dto.expiresAt && dto.expiresAt.getTime() <= Date.now()) throw new BadRequestException('expiresAt must be in the future');
    const user = await this.users.findOne({ where: { id: dto.userId } });
    if (!user) throw new NotFoundException(`User ${dto.userId} not found`);
    assertManages(by, user.repositories, `issue a key for user ${user.id}`);
    if (user.revokedAt) throw new ConflictException(`User ${dto.userId} is revoked; create a new user instead`);
    const apiKey = this.hasher.newKey();
    const key = await this.keys.save(
      this.keys.create({ userId: user.id, keyHash: this.hasher.hash(apiKey), keyPrefix: apiKey.slice(0, 8), expiresAt: dto.expiresAt ?? null }),
    );
    return { ...toKeyDto(entityRow(key, user)), apiKey };
  }

  async revoke(id: string, by: Principal): Promise<KeyDto> {
    const key = await this.keys.findOne({ where: { id }, relations: { user: true } });
    if (!key) throw new NotFoundException(`Key ${id} not found`);
    assertManages(by, key.user.repositories, `revoke key ${id}`);
    if (key.revokedAt) throw new ConflictException(`Key ${id} is already revoked`);
    // Conditional update: two owners revoking at once both succeed without a double write.
    await this.keys.update({ id, revokedAt: IsNull() }, { revokedAt: new Date() });
    await this.auth.invalidate();
    const revoked = (await this.keys.findOne({ where: { id }, relations: { user: true } }))!;
    return toKeyDto(entityRow(revoked, revoked.user));
  }
}

function entityRow(k: ApiKeyEntity, u: UserEntity): Raw {
  const revokedAt = k.revokedAt ?? u.revokedAt;
  const status: KeyStatus = revokedAt ? 'revoked' : k.expiresAt && k.expiresAt.getTime() <= Date.now() ? 'expired' : 'active';
  return {
    id: k.id,
    key_prefix: k.keyPrefix,
    created_at: k.createdAt,
    expires_at: k.expiresAt,
    last_used_at: k.lastUsedAt,
    revoked_at: revokedAt,
    status,
    user_id: u.id,
    user_name: u.name,
    user_role: u.role,
    user_kind: u.kind,
    user_repositories: u.repositories,
  };
}

function toKeyDto(r: Raw): KeyDto {
  return {
    id: r.id,
    keyPrefix: r.key_prefix,
    user: { id: r.user_id, name: r.user_name, role: r.user_role, kind: r.user_kind, repositories: r.user_repositories ?? null },
    status: r.status,
    createdAt: iso(r.created_at)!,
    expiresAt: iso(r.expires_at),
    lastUsedAt: iso(r.last_used_at),
    revokedAt: iso(r.revoked_at),
  };
}
