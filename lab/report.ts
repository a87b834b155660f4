import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LAB_DIR, RESULTS_DIR } from './paths.ts';

export type Cell = string | number;

export interface ReportTable {
  columns: string[];
  rows: Cell[][];
}

/** What a figure was measured on: without it a number cannot be repeated or compared. */
export interface RunSetup {
  commit: string;
  /** Uncommitted changes in the work tree: the commit alone does not describe what ran. */
  dirty: boolean;
  node: string;
  stage: string;
  /** Options and settings the run held fixed (lab options, the target's environment). */
  flags: Record<string, string | number | boolean>;
  cpus: number;
  cpuModel: string;
  date: string;
}

export interface Report {
  scenario: string;
  title: string;
  setup: RunSetup;
  table: ReportTable;
  /** Lines under the table: ratios, and whether each bar holds. */
  verdict: string[];
  /** Every per-round figure, for the JSON file. */
  data: unknown;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: LAB_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined; // not a repository, or no commit yet
  }
}

export function collectSetup(stage: string, flags: RunSetup['flags'], now = new Date()): RunSetup {
  return {
    commit: git(['rev-parse', 'HEAD']) ?? 'none',
    dirty: (git(['status', '--porcelain']) ?? '') !== '',
    node: process.version,
    stage,
    flags,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    date: now.toISOString(),
  };
}

/** A pipe table, readable as plain text and as Markdown; numbers are right-aligned. */
export function renderTable(table: ReportTable): string {
  const text = [table.columns, ...table.rows.map((row) => row.map(String))];
  const numeric = table.columns.map((_, i) => table.rows.length > 0 && table.rows.every((row) => typeof row[i] === 'number' || /^[\d.,–\s%/-]+$/.test(String(row[i] ?? ''))));
  const widths = table.columns.map((_, i) => Math.max(...text.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => `| ${widths.map((w, i) => (numeric[i] ? (row[i] ?? '').padStart(w) : (row[i] ?? '').padEnd(w))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(text[0]!), rule, ...text.slice(1).map(line)].join('\n');
}

export function renderSetup(setup: RunSetup): string {
  const flags = Object.entries(setup.flags).map(([k, v]) => `${k}=${v}`).join(' ');
  return [
    `- commit: ${setup.commit}${setup.dirty ? ' (work tree has uncommitted changes)' : ''}`,
    `- node: ${setup.node}`,
    `- stage: ${setup.stage}`,
    `- cpus: ${setup.cpus} (${setup.cpuModel})`,
    `- date: ${setup.date}`,
    `- flags: ${flags || '(none)'}`,
  ].join('\n');
}

export function renderMarkdown(report: Report): string {
  return [`# ${report.title}`, '', renderSetup(report.setup), '', renderTable(report.table), '', ...report.verdict, ''].join('\n');
}

/** `hot-read-2026-01-02T03-04-05-678Z`: sortable, and safe in any file system. */
export const reportStem = (scenario: string, date: string) => `${scenario}-${date.replace(/[:.]/g, '-')}`;

/** Prints the one table and the verdict, and writes `<scenario>-<date>.{json,md}`; returns the two paths. */
export async function publishReport(report: Report, out: NodeJS.WritableStream = process.stdout, dir = RESULTS_DIR): Promise<{ json: string; markdown: string }> {
  out.write(`\n${report.title}\n\n${renderTable(report.table)}\n\n${report.verdict.join('\n')}\n`);
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, reportStem(report.scenario, report.setup.date));
  const paths = { json: `${base}.json`, markdown: `${base}.md` };
  await writeFile(paths.markdown, renderMarkdown(report));
  await writeFile(paths.json, `${JSON.stringify(report, null, 2)}\n`);
  out.write(`\nReport: ${path.relative(process.cwd(), paths.markdown)} (and .json)\n`);
  return paths;
}
