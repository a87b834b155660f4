import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface Report {
  scenario: string;
  /** What the run held fixed: stage, flags, sizes. */
  setup: Record<string, string | number | boolean>;
  /** Column names, then rows of cells. */
  columns: string[];
  rows: (string | number)[][];
  /** Lines under the table: the ratio and whether the bar holds. */
  verdict: string[];
  raw: unknown;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'uncommitted';
  }
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export const range = (values: number[], digits = 0) => `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

function table(columns: string[], rows: (string | number)[][]): string {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

/** Prints the one table and writes JSON and Markdown under lab/results/, with the setup recorded. */
export async function writeReport(report: Report): Promise<string> {
  const setup = {
    commit: commit(), node: process.version, cpus: os.availableParallelism(), date: new Date().toISOString(), ...report.setup,
  };
  const markdown = [
    `# ${report.scenario}`,
    '',
    Object.entries(setup).map(([k, v]) => `- ${k}: ${v}`).join('\n'),
    '',
    table(report.columns, report.rows),
    '',
    ...report.verdict,
    '',
  ].join('\n');
  process.stdout.write(`\n${table(report.columns, report.rows)}\n\n${report.verdict.join('\n')}\n`);
  const dir = path.resolve('lab/results');
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, `${report.scenario}-${setup.date.replace(/[:.]/g, '-')}`);
  await writeFile(`${base}.md`, markdown);
  await writeFile(`${base}.json`, JSON.stringify({ ...report, setup }, null, 2));
  process.stdout.write(`\nReport: ${path.relative(process.cwd(), base)}.{md,json}\n`);
  return base;
}
