import type { PgServerSpec } from './topology.ts';

/**
 * Settings appended to every server's postgresql.conf. Small on purpose: seven servers share a
 * two-core development box. Replication is on everywhere so any primary can grow replicas later.
 */
export function serverConf(spec: PgServerSpec): string {
  return `
# --- scalemart infra (${spec.name}, ${spec.role}) ---
listen_addresses = '127.0.0.1'
port = ${spec.port}
# TCP only: socket directories differ across distributions and may not be writable by us.
unix_socket_directories = ''
max_connections = 60
shared_buffers = 32MB
work_mem = 4MB
maintenance_work_mem = 16MB
effective_cache_size = 128MB
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
autovacuum_max_workers = 2
# logical: a primary can keep its events outbox in the WAL (EVENTS_OUTBOX=wal, events/wal-relay.ts).
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
# Keeps enough WAL for a replica that was briefly stopped to catch up without a new base backup.
wal_keep_size = 128MB
hot_standby = on
hot_standby_feedback = on
log_min_messages = warning
`;
}

/** Trust for local connections and for replication from this host only; nothing listens elsewhere. */
export const PG_HBA = `# scalemart infra: local development only
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`;

/**
 * What a replica needs beyond what `pg_basebackup -R` wrote: its own port, and an
 * application_name so the primary's pg_stat_replication row can be matched to it.
 */
export function replicaConf(spec: PgServerSpec, primaryPort: number): string {
  return `
# --- scalemart infra (${spec.name}, replica) ---
port = ${spec.port}
primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${spec.name}'
`;
}
