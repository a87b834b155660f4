import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInfra, type Infra } from '../../src/app/infra/infra.ts';

export interface TestInfra {
  /** The temporary data directory; `stop` deletes it. */
  dir: string;
  main: string;
  replicas: string[];
  shards: string[];
  redis: string;
  nats: string;
  infra: Infra;
  /** Stops every server this helper started and deletes its data. */
  stop(): Promise<void>;
}

export interface TestInfraOptions {
  /**
   * main's port; the topology takes base..base+13. Suites that run at the same time need
   * different bases (step by 100). Test ports sit below the kernel's ephemeral range (32768 and
   * up here), where another suite's outgoing connection can hold a port a server wants, and clear
   * of `scalemart infra`'s 15432.
   */
  basePort?: number;
  redisPort?: number;
  natsPort?: number;
}

/**
 * Brings the whole local topology up under a fresh temporary directory: main, two streaming
 * replicas, four shards, plus Redis and NATS (reused when already running on their ports).
 * On failure it tears down what it started before rethrowing, so a suite never leaks servers.
 */
export async function startTestInfra(options: TestInfraOptions = {}): Promise<TestInfra> {
  const dir = await mkdtemp(join(tmpdir(), 'scalemart-infra-'));
  const infra = createInfra({ dir, basePort: options.basePort ?? 26432, redisPort: options.redisPort, natsPort: options.natsPort });
  const stop = async () => {
    await infra.down({ purge: true });
  };
  try {
    const { urls } = await infra.up();
    return { dir, ...urls, infra, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
