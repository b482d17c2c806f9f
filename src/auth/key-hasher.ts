import { hash as digest, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * Keys carry 256 bits of randomness, so one fast SHA-256 is a safe stored form
 * (a slow password hash only matters for guessable secrets).
 */
export abstract class KeyHasher {
  abstract newKey(): string;
  abstract newUuidKey(): string;
  abstract hash(key: string): string;
  /** Constant-time comparison of two hashes from hash(). */
  abstract equalHashes(a: string, b: string): boolean;
}

export class Sha256KeyHasher extends KeyHasher {
  newKey(): string {
    return `mtx_${randomBytes(32).toString('base64url')}`;
  }

  /** synchronize clients expect a UUID-shaped key (122 random bits). */
  newUuidKey(): string {
    return randomUUID();
  }

  // The one-shot digest: a Hash object per call cost four times as much, on every request.
  hash(key: string): string {
    return digest('sha256', key, 'hex');
  }

  equalHashes(a: string, b: string): boolean {
    const ha = Buffer.from(a, 'hex');
    const hb = Buffer.from(b, 'hex');
    return ha.length === hb.length && timingSafeEqual(ha, hb);
  }
}
