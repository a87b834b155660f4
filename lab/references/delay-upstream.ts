import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

/**
 * One upstream instance for the balancing table: a plain node:http server answering every GET
 * with the same small product JSON after `--delay-ms` (0: at once); `GET /_served` answers how many
 * it has served, at once. Three of them, one slow, show
 * what a balancing strategy does with a slow instance, without Scalemart's own work in the way.
 *
 * Usage: node lab/references/delay-upstream.ts --port N [--delay-ms D] [--name NAME]
 */
const { values } = parseArgs({ options: { port: { type: 'string' }, 'delay-ms': { type: 'string', default: '0' }, name: { type: 'string', default: 'upstream' } } });
if (!values.port) {
  process.stderr.write('Usage: delay-upstream.ts --port N [--delay-ms D] [--name NAME]\n');
  process.exit(2);
}
const delayMs = Number(values['delay-ms']);
const body = JSON.stringify({ id: 'p-1', name: 'Lab product', price: 1999, currency: 'EUR', stock: { available: 12 }, servedBy: values.name });

let served = 0;
const server = createServer((req, res) => {
  // How many requests this instance has answered, read by the lab straight from the instance.
  if (req.url === '/_served') return void res.end(String(served));
  if (req.url !== '/readyz') served++;
  const answer = () => {
    res.writeHead(req.url === '/readyz' || req.method === 'GET' ? 200 : 405, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
  };
  if (delayMs > 0 && req.url !== '/readyz') setTimeout(answer, delayMs);
  else answer();
});
// Longer than any balancer's idle keep-alive, so the balancer closes idle connections first.
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => process.stdout.write(`${values.name}: 127.0.0.1:${values.port}, delay ${delayMs} ms\n`));

const close = () => server.close(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
process.stdin.on('end', close).resume();
