import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { collectSetup, publishReport, renderMarkdown, renderTable, reportStem, type Report } from './report.ts';
import { formatMs, formatRange, median, percent, spread } from './stats.ts';

const report: Report = {
  scenario: 'demo',
  title: 'demo: a vs b',
  setup: { commit: 'abc123', dirty: true, node: 'v24.0.0', stage: 'monolith', flags: { connections: 50, cache: 'l1' }, cpus: 2, cpuModel: 'Test CPU', date: '2026-01-02T03:04:05.678Z' },
  table: { columns: ['target', 'req/s', 'range'], rows: [['a', 12000, '11000–13000'], ['bbbbbb', 9, '8–10']] },
  verdict: ['a / b: 50.0 %'],
  data: { rounds: [1, 2, 3] },
};

describe('stats', () => {
  it('takes the median of odd and even counts without reordering the input', () => {
    const values = [5, 1, 3];
    expect(median(values)).toBe(3);
    expect(values).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  it('reports median and min–max', () => {
    expect(spread([30, 10, 20])).toEqual({ median: 20, min: 10, max: 30 });
    expect(formatRange(spread([1.25, 3.5]), 1)).toBe('1.3–3.5');
  });

  it('formats latencies and ratios', () => {
    expect(formatMs(0.8312)).toBe('0.83');
    expect(formatMs(20.31)).toBe('20.3');
    expect(formatMs(146.6)).toBe('147');
    expect(percent(0.5812)).toBe('58.1 %');
  });
});

describe('report', () => {
  it('renders one aligned pipe table, numbers to the right', () => {
    expect(renderTable(report.table)).toBe(
      ['| target | req/s |       range |', '| ------ | ----: | ----------: |', '| a      | 12000 | 11000–13000 |', '| bbbbbb |     9 |        8–10 |'].join('\n'),
    );
  });

  it('puts the setup, the table and the verdict in the Markdown', () => {
    const markdown = renderMarkdown(report);
    expect(markdown).toContain('# demo: a vs b');
    expect(markdown).toContain('- commit: abc123 (work tree has uncommitted changes)');
    expect(markdown).toContain('- cpus: 2 (Test CPU)');
    expect(markdown).toContain('- flags: connections=50 cache=l1');
    expect(markdown).toContain(renderTable(report.table));
    expect(markdown.trimEnd().endsWith('a / b: 50.0 %')).toBe(true);
  });

  it('names files by scenario and date, safely', () => {
    expect(reportStem('hot-read', '2026-01-02T03:04:05.678Z')).toBe('hot-read-2026-01-02T03-04-05-678Z');
  });

  it('collects the setup of this run', () => {
    const setup = collectSetup('monolith', { rounds: 3 }, new Date(0));
    expect(setup.node).toBe(process.version);
    expect(setup.cpus).toBeGreaterThan(0);
    expect(setup.date).toBe('1970-01-01T00:00:00.000Z');
    expect(setup.commit).toMatch(/^([0-9a-f]{40}|none)$/);
  });

  it('prints the table and writes JSON and Markdown', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lab-report-'));
    try {
      const out = new PassThrough();
      let printed = '';
      out.on('data', (chunk) => (printed += String(chunk)));
      const paths = await publishReport(report, out, dir);
      expect(path.basename(paths.json)).toBe('demo-2026-01-02T03-04-05-678Z.json');
      expect(printed).toContain(renderTable(report.table));
      expect(JSON.parse(await readFile(paths.json, 'utf8'))).toEqual(report);
      expect(await readFile(paths.markdown, 'utf8')).toBe(renderMarkdown(report));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
