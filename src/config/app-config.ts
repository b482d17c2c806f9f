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

/**
 * Every setting the service reads, validated once at start.
 * Defaults make `npm start` work against local PostgreSQL and Redis.
 */
export class AppConfig {
  /** 0 picks a free port (the tests do). */
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsConnectionUrl(['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/database', true)
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/queue_mutex';

  @Transform(toInt) @IsInt() @Min(2) @Max(200)
  DATABASE_POOL_SIZE = 20;

  @IsConnectionUrl(['redis:', 'rediss:'], 'redis://host:6379')
  REDIS_URL = 'redis://127.0.0.1:6379';

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

/** Builds the configuration from an environment record; throws one message naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const defaults = new AppConfig();
  const known = Object.keys(defaults).concat(['OWNER_TOKEN', 'APP_NAME']);
  const raw: Record<string, unknown> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const config = plainToInstance(AppConfig, raw, { exposeDefaultValues: true });
  const errors = validateSync(config, { skipMissingProperties: false });
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const got = JSON.stringify(raw[e.property]);
      const why = messagesOf(e).join('; ');
      return `  ${e.property}=${got}: ${why}`;
    });
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return config;
}
