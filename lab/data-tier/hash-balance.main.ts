// Prints the hash strategy's balance and movement figures: ./node_modules/.bin/node lab/data-tier/hash-balance.main.ts [keys] [order|sku]
import { renderTable } from '../report.ts';
import { fixed, percent } from '../stats.ts';
import { BALANCE_BAR, MOVEMENT_BAR, runHashBalance, type KeyStyle } from './hash-balance.ts';

const keyCount = Number(process.argv[2] ?? 1_000_000);
const style: KeyStyle = process.argv[3] === 'sku' ? 'sku' : 'order';
const started = performance.now();
const result = runHashBalance({ keyCount, style });
const seconds = (performance.now() - started) / 1000;

const rows = result.balance.map((b, i) => {
  const m = result.movement[i];
  return [
    b.shards,
    b.min,
    b.max,
    fixed(b.mean, 1),
    fixed(b.maxOverMean, 4),
    m === undefined ? '' : `${b.shards}→${b.shards + 1}`,
    m === undefined ? '' : percent(m.fraction, 2),
    m === undefined ? '' : percent(m.ideal, 2),
    m === undefined ? '' : percent(m.relativeError, 2),
    m === undefined ? '' : m.strayMoves,
  ];
});
console.log(`jump hash over sha256, ${keyCount} ${style} keys (${fixed(seconds, 1)} s)`);
console.log(
  renderTable({
    columns: ['shards', 'min keys', 'max keys', 'mean', 'max/mean', 'add', 'moved', 'ideal 1/(n+1)', 'off ideal', 'stray'],
    rows,
  }),
);
console.log(`bars: max/mean ≤ ${BALANCE_BAR} at the most shards; moved within ${percent(MOVEMENT_BAR, 0)} of ideal → ${result.pass ? 'PASS' : 'FAIL'}`);
process.exitCode = result.pass ? 0 : 1;
