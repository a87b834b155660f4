import { execFile } from 'node:child_process';
import { NODE } from './process.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `scalemart fleet …args` as a user would; resolves with its exit code and output, never rejects. */
export function fleetCli(args: string[], timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(NODE, ['src/app/cli.ts', 'fleet', ...args], { timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
