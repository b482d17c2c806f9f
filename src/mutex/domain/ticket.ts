/** A ticket: one request for one lock, queued → acquired → released. */
export type TicketStatus = 'queued' | 'acquired' | 'released';
export type ReleaseReason = 'released' | 'expired' | 'cleared' | 'cancelled' | 'timed_out';
export type TicketSource = 'sfp' | 'dapr' | 'synchronize';
export type TicketMetadata = Readonly<Record<string, string>>;

export interface Ticket {
  id: string;
  /** Its first lock's id; null while a pool ticket waits. */
  lockId: number | null;
  repository: string;
  /** Its first resource: the one it asked for, the first of a set, the first member a pool ticket got (its pool's name while it waits). */
  resource: string;
  /** Every resource, in the order asked (a set) or got (a pool ticket; none while it waits). */
  resources: string[];
  /** The pool it asks for members of; null for a ticket that names its resources. */
  pool: string | null;
  /** How many resources it asks for: 1, a set's size, or a pool ticket's count. */
  lockCount: number;
  status: TicketStatus;
  /** 1 for the first waiter, 0 while acquired, null once released. */
  queuePosition: number | null;
  seq: number;
  requesterId: string;
  requesterName: string;
  owner: string | null;
  source: TicketSource;
  reason: string | null;
  /** Where it came from (a CI run's URL, commit, ref, job); empty when none was given. */
  metadata: TicketMetadata;
  leaseDurationSeconds: number;
  waitDeadline: Date | null;
  idempotencyKey: string | null;
  leaseStart: Date | null;
  leaseExpiresAt: Date | null;
  /** The token of its first resource's grant. */
  fencingToken: number | null;
  /** Each resource's token, once granted ({} before). */
  fencingTokens: Record<string, number>;
  renewedAt: Date | null;
  releaseReason: ReleaseReason | null;
  releasedAt: Date | null;
  releasedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What one change to a lock did besides its answer: who got the lock, whose ticket ended. */
export interface LockChange {
  granted: Ticket[];
  ended: Ticket[];
}

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));

/** Maps a ticket's JSON (mutex_ticket_json in src/mutex/sql/10-tickets.sql) to a Ticket. */
export function ticketFromRow(row: Record<string, any>): Ticket {
  return {
    id: row.id,
    lockId: row.lock_id === null || row.lock_id === undefined ? null : Number(row.lock_id),
    repository: row.repository,
    resource: row.resource,
    // A ticket for one resource carries neither list: it is its resource and token.
    resources: row.resources ?? [row.resource],
    pool: row.pool ?? null,
    lockCount: row.lock_count ?? 1,
    status: row.status,
    queuePosition: row.queue_position ?? null,
    seq: Number(row.seq),
    requesterId: row.requester_id,
    requesterName: row.requester_name,
    owner: row.owner ?? null,
    source: row.source,
    reason: row.reason ?? null,
    metadata: row.metadata ?? {},
    leaseDurationSeconds: row.lease_duration_seconds,
    waitDeadline: date(row.wait_deadline),
    idempotencyKey: row.idempotency_key ?? null,
    leaseStart: date(row.lease_start),
    leaseExpiresAt: date(row.lease_expires_at),
    fencingToken: row.fencing_token === null || row.fencing_token === undefined ? null : Number(row.fencing_token),
    fencingTokens:
      row.fencing_tokens ??
      (row.fencing_token === null || row.fencing_token === undefined ? {} : { [row.resource]: Number(row.fencing_token) }),
    renewedAt: date(row.renewed_at),
    releaseReason: row.release_reason ?? null,
    releasedAt: date(row.released_at),
    releasedBy: row.released_by ?? null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const DATE_FIELDS = ['waitDeadline', 'leaseStart', 'leaseExpiresAt', 'renewedAt', 'releasedAt', 'createdAt', 'updatedAt'] as const;

/** Reads a Ticket back from its JSON form (as sent between instances). */
export function ticketFromWire(json: string): Ticket | null {
  try {
    const raw = JSON.parse(json) as Record<string, unknown>;
    if (!raw || typeof raw.id !== 'string' || typeof raw.status !== 'string') return null;
    for (const f of DATE_FIELDS) if (typeof raw[f] === 'string') raw[f] = new Date(raw[f] as string);
    return raw as unknown as Ticket;
  } catch {
    return null;
  }
}
