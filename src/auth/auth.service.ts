import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { PgNotifications } from '../database/pg-notifications';
import { RedisService } from '../redis/redis.service';
import { ApiKeyEntity } from './api-key.entity';
import { KeyHasher } from './key-hasher';
import { BOOTSTRAP_OWNER_ID, Principal } from './principal';

interface CacheEntry {
  principal: Principal;
  until: number;
}

/** The PostgreSQL channel of revocations when there is no Redis. */
const PG_INVALIDATION_CHANNEL = 'queue_mutex_auth_invalidate';

/**
 * Turns an API key into a Principal. Verified keys are remembered briefly so the lock hot path
 * costs one database round trip, not two; a revocation clears every instance's cache at once,
 * through Redis or, without Redis, PostgreSQL NOTIFY, and the short TTL bounds staleness if that
 * message is lost.
 */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly invalidationChannel: string;
  private readonly ownerTokenHash: string | null;

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    private readonly hasher: KeyHasher,
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly pg: PgNotifications,
  ) {
    this.invalidationChannel = redis.key('auth-invalidate');
    this.ownerTokenHash = config.OWNER_TOKEN ? hasher.hash(config.OWNER_TOKEN) : null;
  }

  async onModuleInit(): Promise<void> {
    if (!this.redis.configured) {
      this.pg.listen(PG_INVALIDATION_CHANNEL, () => this.cache.clear());
      this.pg.onReconnect(() => this.cache.clear());
      return;
    }
    await this.redis.subscribe(this.invalidationChannel, () => this.cache.clear());
    this.redis.onReconnect(() => this.cache.clear());
  }

  /**
   * What verify() answers without a database query: null for no key, the owner for OWNER_TOKEN,
   * a cached key's principal; otherwise the key's hash, to look up.
   */
  private known(key: string): Principal | null | string {
    if (!key || key.length > 512) return null;
    // One hash per request: it is both the cache key and what OWNER_TOKEN is compared against.
    const hash = this.hasher.hash(key);
    if (this.ownerTokenHash && this.hasher.equalHashes(hash, this.ownerTokenHash)) {
      return {
        userId: BOOTSTRAP_OWNER_ID,
        name: 'owner-token',
        role: 'owner',
        kind: 'bootstrap',
        repositories: null,
        keyId: null,
      };
    }
    const cached = this.cache.get(hash);
    if (cached && cached.until > Date.now()) return cached.principal;
    return hash;
  }

  /** verify() when it needs no database query (the guard's path without a promise); undefined when it does. */
  verifyWithoutQuery(key: string): Principal | null | undefined {
    const known = this.known(key);
    return typeof known === 'string' ? undefined : known;
  }

  async verify(key: string): Promise<Principal | null> {
    const known = this.known(key);
    if (typeof known !== 'string') return known;
    const hash = known;
    const now = Date.now();
    const row = await this.keys
      .createQueryBuilder('k')
      .innerJoinAndSelect('k.user', 'u')
      .where('k.key_hash = :hash', { hash })
      .andWhere('k.revoked_at IS NULL')
      .andWhere('u.revoked_at IS NULL')
      .andWhere('(k.expires_at IS NULL OR k.expires_at > now())')
      .getOne();
    if (!row) {
      this.cache.delete(hash);
      return null;
    }
    const principal: Principal = {
      userId: row.user.id,
      name: row.user.name,
      role: row.user.role,
      kind: row.user.kind,
      repositories: row.user.repositories,
      keyId: row.id,
    };
    let until = now + this.config.AUTH_CACHE_TTL_MS;
    if (row.expiresAt) until = Math.min(until, row.expiresAt.getTime());
    if (this.config.AUTH_CACHE_TTL_MS > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { principal, until });
    }
    void this.keys.update({ id: row.id }, { lastUsedAt: new Date() }).catch(() => undefined);
    return principal;
  }

  /** Called after any revocation: forget verified keys here and on every other instance. */
  async invalidate(): Promise<void> {
    this.cache.clear();
    if (this.redis.configured) await this.redis.publish(this.invalidationChannel, 'all');
    else await this.pg.notify(PG_INVALIDATION_CHANNEL, 'all');
  }
}
