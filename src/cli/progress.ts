/** Progress display for the CLI. */
import cliProgress from 'cli-progress';

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
