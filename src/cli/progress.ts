/** Progress display and shared options for the CLI. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';

/** A progress bar for a phase of known length (terminal only; silent in logs and CI). */
export function phaseBar(label: string): { update(done: number, total: number): void; stop(): void } {
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(done, total) {
      if (!process.stderr.isTTY) return;
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | eta {eta_formatted}`, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
      bar.update(done);
      if (done >= total) this.stop();
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

/**
 * The options of every command that runs a saved model: the folder, and which engine runs it
 * (onnxruntime when the folder has an ONNX export, tfjs otherwise).
 */
export function modelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--model <dir>', 'model folder')
    .option('--engine <name>', 'auto (onnxruntime when the model has an ONNX export) | tfjs | onnx', 'auto');
}
