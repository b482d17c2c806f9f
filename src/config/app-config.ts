import { accessSync, constants as fsConstants } from 'node:fs';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
  validateSync,
} from 'class-validator';
import { messagesOf } from '../common/validation';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const toNumber = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?(\d+\.?\d*|\.\d+)$/.test(value.trim()) ? Number(value) : value;
const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
};
const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : value;

/**
 * A URL the connection libraries will accept: it parses (a port is a number up to 65535), with
 * one of `protocols`, and names a host unless `hostOptional` (PostgreSQL may name a socket
 * directory in `?host=` instead).
 */
function IsConnectionUrl(protocols: string[], example: string, hostOptional = false): PropertyDecorator {
  return ValidateBy({
    name: 'isConnectionUrl',
    validator: {
      validate: (value: unknown) => {
        if (typeof value !== 'string') return false;
        try {
          const url = new URL(value);
          return protocols.includes(url.protocol) && (hostOptional || url.hostname !== '');
        } catch {
          return false;
        }
      },
      defaultMessage: (args) => `${args?.property} must be a valid URL such as ${example}`,
    },
  });
}

/** `host:port` or `[ipv6]:port`, as Sentinel and Cluster node lists give them. */
export function parseHostPort(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  return port >= 1 && port <= 65_535 ? { host: m[1] ?? m[2], port } : null;
}

function IsHostPortList(): PropertyDecorator {
  return ValidateBy({
    name: 'isHostPortList',
    validator: {
      validate: (value: unknown) => Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && parseHostPort(v) !== null),
      defaultMessage: (args) => `${args?.property} must be a comma-separated list of host:port`,
    },
  });
}

function IsReadableFile(): PropertyDecorator {
  return ValidateBy({
    name: 'isReadableFile',
    validator: {
      validate: (value: unknown) => {
        if (typeof value !== 'string') return false;
        try {
          accessSync(value, fsConstants.R_OK);
          return true;
        } catch {
          return false;
        }
      },
      defaultMessage: (args) => `${args?.property} must name a readable file`,
    },
  });
}

/** How the service reaches Redis: not at all (one instance), one node, a Sentinel-managed master, or a Cluster. */
export type RedisMode = 'none' | 'single' | 'sentinel' | 'cluster';

/**
 * Every setting the service reads, validated once at start.
 * With none set, `npm start` runs on an embedded PostgreSQL and without Redis (one instance).
 */
export class AppConfig {
  /** 0 picks a free port (the tests do). */
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  /** Unset: an embedded PostgreSQL keeps its data in DATA_DIR (one instance). */
  @IsOptional() @IsConnectionUrl(['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/database', true)
  DATABASE_URL?: string;

  /** The embedded PostgreSQL's folder (used only without DATABASE_URL); relative to the working directory. */
  @IsString() @MinLength(1)
  DATA_DIR = 'data';

  @Transform(toInt) @IsInt() @Min(2) @Max(200)
  DATABASE_POOL_SIZE = 20;

  /**
   * Lock-operation batches in flight at once (each one transaction). Past the first, a batch goes
   * out only while those out have been out 5 ms (src/database/call-batcher.ts).
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(16)
  DATABASE_BATCH_LANES = 2;

  /** One Redis node. Unset, with no Sentinel or Cluster either: no Redis at all (one instance). */
  @IsOptional() @IsConnectionUrl(['redis:', 'rediss:'], 'redis://host:6379')
  REDIS_URL?: string;

  /** Sentinels watching the master named REDIS_SENTINEL_NAME, instead of REDIS_URL. */
  @IsOptional() @Transform(toList) @IsHostPortList()
  REDIS_SENTINELS?: string[];

  @IsOptional() @Matches(/^[A-Za-z0-9_.-]{1,128}$/, { message: 'REDIS_SENTINEL_NAME must be 1-128 characters of A-Z a-z 0-9 _ . -' })
  REDIS_SENTINEL_NAME?: string;

  /** Seed nodes of a Redis Cluster, instead of REDIS_URL. */
  @IsOptional() @Transform(toList) @IsHostPortList()
  REDIS_CLUSTER_NODES?: string[];

  /** ACL user and password of the Redis nodes (any mode; they override those of REDIS_URL). */
  @IsOptional() @IsString() @MaxLength(256)
  REDIS_USERNAME?: string;

  @IsOptional() @IsString() @MaxLength(1024)
  REDIS_PASSWORD?: string;

  /** Password of the sentinels themselves, when they ask for one. */
  @IsOptional() @IsString() @MaxLength(1024)
  REDIS_SENTINEL_PASSWORD?: string;

  /** TLS to every Redis node (and sentinel); `rediss://` in REDIS_URL turns it on too. */
  @Transform(toBool) @IsBoolean()
  REDIS_TLS = false;

  /** PEM file of the certificate authorities that Redis's certificates are checked against (default: the system's). */
  @IsOptional() @IsReadableFile()
  REDIS_TLS_CA_FILE?: string;

  /** Prefix of every Redis key and pub/sub channel, so several deployments can share one Redis. */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'REDIS_PREFIX must be 1-64 characters of A-Z a-z 0-9 _ . -' })
  REDIS_PREFIX = 'queue-mutex';

  /** Accepted as an owner key from the first start. */
  @IsOptional() @IsString() @MinLength(16, { message: 'OWNER_TOKEN must be at least 16 characters' })
  OWNER_TOKEN?: string;

  @Transform(toList) @IsString({ each: true }) @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { each: true, message: 'DAPR_LOCK_STORES must be a comma-separated list of store names' })
  DAPR_LOCK_STORES: string[] = ['lockstore'];

  @Transform(toList) @IsString({ each: true }) @Matches(/^[A-Za-z0-9_.-]{1,100}$/, { each: true, message: 'DAPR_STATE_STORES must be a comma-separated list of store names' })
  DAPR_STATE_STORES: string[] = ['statestore'];

  /** Lease given to a synchronize lock, whose API has no expiry field. */
  @Transform(toInt) @IsInt() @Min(1) @Max(31_536_000)
  SYNCHRONIZE_LEASE_SECONDS = 300;

  @Transform(toBool) @IsBoolean()
  SYNCHRONIZE_ANONYMOUS_USERS = true;

  /** Anonymous user creations allowed per client address per minute. */
  @Transform(toInt) @IsInt() @Min(1) @Max(100_000)
  SYNCHRONIZE_ANONYMOUS_PER_MINUTE = 30;

  /** Longest lease a client may ask for. */
  @Transform(toInt) @IsInt() @Min(1) @Max(31_536_000)
  MAX_LEASE_SECONDS = 86_400;

  /** How long released tickets stay in lists (and their idempotency keys are remembered). */
  @Transform(toInt) @IsInt() @Min(0) @Max(31_536_000)
  RELEASED_RETENTION_SECONDS = 3_600;

  /**
   * How long released tickets, the audit of their lives, are kept (days; fractions allowed), and
   * renewals with them. Never less than RELEASED_RETENTION_SECONDS.
   */
  @Transform(toNumber) @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(36_500)
  AUDIT_RETENTION_DAYS = 30;

  /** Period of the BullMQ job that deletes released tickets past the audit retention. */
  @Transform(toInt) @IsInt() @Min(100) @Max(86_400_000)
  RELEASED_PURGE_INTERVAL_MS = 60_000;

  /** Period of the sweep that expires leases and wait timeouts whose Redis job was lost. */
  @Transform(toInt) @IsInt() @Min(50) @Max(60_000)
  SWEEP_INTERVAL_MS = 1_000;

  /**
   * The sweep also runs this long after the earliest lease end or wait limit of any lock, so a
   * lock whose granting instance died (taking its in-process timer, before its BullMQ job was
   * written) is settled this late, not up to a whole SWEEP_INTERVAL_MS late.
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(60_000)
  SWEEP_DEADLINE_GRACE_MS = 50;

  /** On SIGTERM, how long to keep answering (with `Connection: close`) before the HTTP server closes. */
  @Transform(toInt) @IsInt() @Min(0) @Max(30_000)
  SHUTDOWN_DRAIN_MS = 500;

  /** How often a long-polling acquire re-reads its ticket even without a wake-up (a lost pub/sub message costs at most this). */
  @Transform(toInt) @IsInt() @Min(100) @Max(60_000)
  LONG_POLL_RECHECK_MS = 1_000;

  /** Period of the BullMQ job that deletes expired Dapr state rows (reads already hide them). */
  @Transform(toInt) @IsInt() @Min(100) @Max(86_400_000)
  STATE_TTL_PURGE_INTERVAL_MS = 60_000;

  /** How long a verified API key is trusted from memory; revocations also invalidate it at once. */
  @Transform(toInt) @IsInt() @Min(0) @Max(300_000)
  AUTH_CACHE_TTL_MS = 10_000;

  /** Set when running behind a reverse proxy, so X-Forwarded-For gives the client address. */
  @Transform(toBool) @IsBoolean()
  TRUST_PROXY = false;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @Transform(toBool) @IsBoolean()
  LOG_PRETTY = false;

  @IsIn(['development', 'production', 'test'])
  NODE_ENV = 'development';

  @IsOptional() @IsString() @MaxLength(200)
  APP_NAME?: string;
}

/** Settings without a default (unset means something of its own). */
const OPTIONAL = [
  'DATABASE_URL',
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_CLUSTER_NODES',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_TLS_CA_FILE',
  'OWNER_TOKEN',
  'APP_NAME',
];

/** Which way to Redis the configuration names (loadConfig has refused more than one). */
export function redisModeOf(config: AppConfig): RedisMode {
  if (config.REDIS_URL) return 'single';
  if (config.REDIS_SENTINELS?.length) return 'sentinel';
  if (config.REDIS_CLUSTER_NODES?.length) return 'cluster';
  return 'none';
}

/** The PostgreSQL to use: DATABASE_URL, or the embedded one's, which main sets before the app starts. */
export function databaseUrlOf(config: AppConfig): string {
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is not set and no embedded PostgreSQL was started for this process');
  return config.DATABASE_URL;
}

/** Rules that span several variables, one line each. */
function crossFieldProblems(c: AppConfig): string[] {
  const problems: string[] = [];
  const modes = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((k) => c[k] !== undefined);
  if (modes.length > 1) {
    problems.push(`  ${modes.join(', ')}: set only one of them (one Redis node, a Sentinel-managed master, or a Redis Cluster)`);
  }
  if (c.REDIS_SENTINELS && !c.REDIS_SENTINEL_NAME) problems.push('  REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name of the master the sentinels watch)');
  if (c.REDIS_SENTINEL_NAME && !c.REDIS_SENTINELS) problems.push('  REDIS_SENTINEL_NAME: set, but REDIS_SENTINELS (host:port,...) is not');
  if (c.REDIS_TLS_CA_FILE && !c.REDIS_TLS && !c.REDIS_URL?.startsWith('rediss:')) {
    problems.push('  REDIS_TLS_CA_FILE: set, but TLS is off (set REDIS_TLS=true, or use a rediss:// REDIS_URL)');
  }
  return problems;
}

/** Builds the configuration from an environment record; throws one message naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const defaults = new AppConfig();
  const known = [...new Set(Object.keys(defaults).concat(OPTIONAL))];
  const raw: Record<string, unknown> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { skipMissingProperties: false });
  const lines = errors.map((e) => {
    const got = /PASSWORD/.test(e.property) ? '(hidden)' : JSON.stringify(raw[e.property]);
    const why = messagesOf(e).join('; ');
    return `  ${e.property}=${got}: ${why}`;
  });
  if (lines.length === 0) lines.push(...crossFieldProblems(config));
  if (lines.length > 0) throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  return config;
}
