import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../platform/config/config.ts';
import { createMonolith, createServiceProcess, type ServiceProcess } from './monolith.ts';
import { seed } from './seed/seed.ts';

export const DEMO_USER_PASSWORD = 'scalemart-demo';

function describeDatabase(config: Config, engine: string): string {
  if (config.databaseUrl === '') return `embedded PostgreSQL in ${path.relative(process.cwd(), path.join(config.dataDir, 'postgres')) || '.'}`;
  if (config.databaseUrl === 'memory://') return 'in-memory PGlite';
  return engine;
}

/**
 * Seeds a small demo catalog the first time the platform starts on an empty database: where
 * catalog runs, with stock and users through inventory's and identity's contracts, here or remote.
 */
async function seedDemoOnFirstRun(running: ServiceProcess, config: Config, logger: Logger): Promise<void> {
  const { catalog, inventory, identity } = running.apis;
  if (!catalog || !inventory || !identity || !running.modules.catalog) return;
  if (config.seedDemoProducts === 0 || (await catalog.countProducts()) > 0) return;
  const started = performance.now();
  await seed(
    { catalog, inventory, identity },
    { products: config.seedDemoProducts, users: 10, userPassword: DEMO_USER_PASSWORD },
  );
  logger.info({ products: config.seedDemoProducts, ms: Math.round(performance.now() - started) }, 'seeded the demo catalog');
}

/**
 * Runs the platform until SIGTERM or SIGINT, then shuts down gracefully: drain for
 * `shutdownDrainMs` (`/readyz` answers 503 so balancers take the instance out, requests are still
 * served), stop accepting, finish in-flight requests, close pools, exit 0. A shutdown that
 * overruns its timeout (counted after the drain) exits 1.
 */
export async function runServer(config: Config, logger: Logger): Promise<void> {
  const started = performance.now();
  const monolith = config.role === 'service' ? await createServiceProcess(config, logger) : await createMonolith(config, logger);
  await seedDemoOnFirstRun(monolith, config, logger);
  const address = await monolith.app.listen({ host: config.host, port: config.port });
  const base = address.replace('127.0.0.1', 'localhost');
  const role = config.role === 'service' ? `, role: service (${monolith.plan.local.join(', ')})` : '';
  process.stdout.write(
    [
      `Scalemart is running (stage: ${config.stage}${role}, database: ${describeDatabase(config, monolith.db.engine)}, started in ${Math.round(performance.now() - started)} ms)`,
      `  API        ${base}/api/v1/products`,
      `  Docs       ${base}/docs`,
      `  Metrics    ${base}/metrics`,
      `  Health     ${base}/livez  ${base}/readyz`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drainMs: config.shutdownDrainMs }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, config.shutdownDrainMs + config.shutdownTimeoutMs);
    deadline.unref();
    try {
      monolith.drain();
      if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
      await monolith.close();
      logger.info('stopped');
      logger.flush();
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
