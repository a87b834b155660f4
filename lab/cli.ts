import { runLab } from './runner.ts';

/**
 * The lab's entry point. `scalemart lab …` (src/app/cli.ts) imports runLab from here; the file
 * also runs on its own: `node lab/cli.ts run hot-read`.
 */
export { runLab };

if (import.meta.main) {
  process.exitCode = await runLab(process.argv.slice(2));
}
