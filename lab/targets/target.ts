import type { ManagedProcess } from '../processes.ts';

/** A server the lab drives: its loopback origin and the process serving it. */
export interface Target {
  name: string;
  origin: string;
  process: ManagedProcess;
}
