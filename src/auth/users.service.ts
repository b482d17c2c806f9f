import { BadRequestException, ConflictException, ForbiddenException, Injectable, Logger, NotFoundException, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ApiKeyEntity } from './api-key.entity';
import { AuthService } from './auth.service';
import { CreatedUserDto, CreateUserDto, UserDto } from './dto/user.dto';
import { KeyHasher } from './key-hasher';
import { BOOTSTRAP_OWNER_ID, Principal, repositoriesCover } from './principal';
import { Role, UserEntity, UserKind } from './user.entity';

/** Arbitrary constant: the advisory lock under which one of several starting instances creates the first owner key. */
const FIRST_OWNER_LOCK_KEY = 7_302_119_002;

@Injectable()
export class UsersService implements OnApplicationBootstrap {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly hasher: KeyHasher,
    private readonly auth: AuthService,
    private readonly config: AppConfig,
  ) {}

  /**
   * A newcomer without OWNER_TOKEN would otherwise have no way to get a first key: the first
   * start of a new database (no user at all, revoked ones included) creates an owner key and
   * prints it, once. Instances starting together agree through an advisory lock on which one does.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.config.OWNER_TOKEN) return;
    try {
      const apiKey = await this.dataSource.transaction(async (em) => {
        await em.query('SELECT pg_advisory_xact_lock($1)', [FIRST_OWNER_LOCK_KEY]);
        if ((await em.count(UserEntity)) > 0) return null;
        const key = this.hasher.newKey();
        const user = await em.save(UserEntity, em.create(UserEntity, { name: 'first-owner', role: 'owner', repositories: null, kind: 'user' }));
        await em.save(ApiKeyEntity, em.create(ApiKeyEntity, this.keyRow(user.id, key, null)));
        return key;
      });
      if (apiKey) {
        this.logger.warn(
          `First start of this database, without OWNER_TOKEN: created the owner key ${apiKey} ` +
            `(shown only this once, stored hashed). Use it as a Bearer key; it creates other keys at POST /sfp/api/users.`,
        );
      }
    } catch (err) {
      this.logger.warn(`could not create a first owner key: ${(err as Error).message}`);
    }
  }

  create(dto: CreateUserDto, by: Principal): Promise<CreatedUserDto> {
    if (dto.expiresAt && dto.expiresAt.getTime() <= Date.now()) throw new BadRequestException('expiresAt must be in the future');
    assertManages(by, dto.repositories ?? null, 'create a user');
    return this.createWithKey(
      { name: dto.name, role: dto.role, repositories: dto.repositories ?? null, kind: 'user' },
      this.hasher.newKey(),
      dto.expiresAt ?? null,
    );
  }

  /** A synchronize anonymous user: a member confined to its own namespace. */
  async createAnonymous(namespaceOf: (userId: string) => string): Promise<{ userId: string; apiKey: string }> {
    const apiKey = this.hasher.newUuidKey();
    return this.dataSource.transaction(async (em) => {
      const user = await em.save(UserEntity, em.create(UserEntity, { name: 'anonymous', role: 'member', kind: 'anonymous' }));
      user.repositories = [namespaceOf(user.id)];
      await em.save(user);
      await em.save(ApiKeyEntity, em.create(ApiKeyEntity, this.keyRow(user.id, apiKey, null)));
      return { userId: user.id, apiKey };
    });
  }

  private async createWithKey(
    fields: { name: string; role: Role; repositories: string[] | null; kind: UserKind },
    apiKey: string,
    expiresAt: Date | null,
  ): Promise<CreatedUserDto> {
    return this.dataSource.transaction(async (em) => {
      const user = await em.save(UserEntity, em.create(UserEntity, fields));
      const key = await em.save(ApiKeyEntity, em.create(ApiKeyEntity, this.keyRow(user.id, apiKey, expiresAt)));
      return { ...toUserDto(user, key), apiKey };
    });
  }

  private keyRow(userId: string, apiKey: string, expiresAt: Date | null): Partial<ApiKeyEntity> {
    return { userId, keyHash: this.hasher.hash(apiKey), keyPrefix: apiKey.slice(0, 8), expiresAt };
  }

  /** Every user, or for a key limited to repositories, the users limited to within them. */
  async list(by: Principal): Promise<UserDto[]> {
    const all = await this.users.find({ relations: { keys: true }, order: { createdAt: 'ASC' } });
    const rows = all.filter((u) => repositoriesCover(by.repositories, u.repositories));
    return rows.map((u) => toUserDto(u, u.keys.find((k) => !k.revokedAt) ?? u.keys[0]));
  }

  async revoke(id: string, by: Principal): Promise<UserDto> {
    const user = await this.users.findOne({ where: { id }, relations: { keys: true } });
    if (!user) throw new NotFoundException(`User ${id} not found`);
    assertManages(by, user.repositories, `revoke user ${id}`);
    if (user.revokedAt) throw new ConflictException(`User ${id} is already revoked`);
    const now = new Date();
    await this.dataSource.transaction(async (em) => {
      await em.update(UserEntity, { id }, { revokedAt: now });
      await em.createQueryBuilder().update(ApiKeyEntity).set({ revokedAt: now }).where('user_id = :id AND revoked_at IS NULL', { id }).execute();
    });
    await this.auth.invalidate();
    user.revokedAt = now;
    return toUserDto(user, user.keys[0]);
  }

  async me(principal: Principal): Promise<UserDto> {
    if (principal.userId === BOOTSTRAP_OWNER_ID) {
      return { id: principal.userId, name: principal.name, role: 'owner', repositories: null, kind: 'bootstrap', createdAt: new Date(0).toISOString() };
    }
    const user = await this.users.findOne({ where: { id: principal.userId }, relations: { keys: true } });
    if (!user) throw new NotFoundException('User not found');
    return toUserDto(user, user.keys.find((k) => k.id === principal.keyId));
  }
}

/**
 * An owner key limited to repositories manages only users limited to within them: otherwise it
 * could mint itself an unlimited key, or revoke the keys of owners it cannot see.
 */
export function assertManages(by: Principal, repositories: string[] | null, action: string): void {
  if (repositoriesCover(by.repositories, repositories)) return;
  const limits = by.repositories!.map((p) => `'${p}'`).join(', ');
  throw new ForbiddenException(
    `This key is limited to repositories ${limits}: it may not ${action} ` +
      (repositories === null ? 'with access to all repositories' : `with repositories outside them`),
  );
}

function toUserDto(user: UserEntity, key?: ApiKeyEntity): UserDto {
  return {
    id: user.id,
    name: user.name,
    role: user.role,
    repositories: user.repositories,
    kind: user.kind,
    createdAt: user.createdAt.toISOString(),
    revokedAt: user.revokedAt ? user.revokedAt.toISOString() : null,
    keyExpiresAt: key?.expiresAt ? key.expiresAt.toISOString() : null,
    keyPrefix: key?.keyPrefix,
  };
}
