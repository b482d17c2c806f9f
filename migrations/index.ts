import { Baseline1764000000000 } from './1764000000000-baseline';
import { SqlFunctionFiles1764000000100 } from './1764000000100-sql-function-files';
import { TicketMetadata1764000000200 } from './1764000000200-ticket-metadata';
import { ResourceSetsAndPools1764000000300 } from './1764000000300-resource-sets-and-pools';
import { TicketsCarryTheirAudit1764000000400 } from './1764000000400-tickets-carry-their-audit';
import { StateWithoutValueIndex1764000000500 } from './1764000000500-state-without-value-index';

/**
 * Every migration, in order. Listed explicitly so the app, the CLI and the tests load the same set.
 * Append-only: a schema change is a new file here, never an edit of one that has shipped.
 */
export const MIGRATIONS = [Baseline1764000000000, SqlFunctionFiles1764000000100, TicketMetadata1764000000200, ResourceSetsAndPools1764000000300, TicketsCarryTheirAudit1764000000400, StateWithoutValueIndex1764000000500];
