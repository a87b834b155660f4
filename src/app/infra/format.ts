import type { ServerStatus } from './status.ts';

function lag(s: ServerStatus): string {
  if (s.role !== 'replica') return '';
  const bytes = s.lagBytes == null ? '-' : `${s.lagBytes} B`;
  const seconds = s.lagSeconds == null ? '-' : `${s.lagSeconds.toFixed(1)} s`;
  return `${s.replication ?? 'not streaming'}, lag ${bytes} / ${seconds}`;
}

function note(s: ServerStatus): string {
  if (s.role === 'replica') return lag(s);
  if (s.managed !== undefined) return s.managed ? 'started by infra' : 'reused (not ours)';
  return '';
}

/** One aligned line per server, for people; `--json` gives the same data to scripts. */
export function formatStatus(lines: readonly ServerStatus[]): string {
  const rows = [['NAME', 'ROLE', 'PORT', 'HEALTH', 'REPLICATION'], ...lines.map((s) => [s.name, s.role, String(s.port), s.health, note(s)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
