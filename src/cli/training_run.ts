/** Running a training from the CLI: console progress (bar on a terminal, log lines otherwise), Ctrl-C handling, the final evaluation. */
import cliProgress from 'cli-progress';
import { engineInfo } from '../engine/backend.js';
import { resumeTraining, train } from '../train/trainer.js';
import type { ResumeRequest, TrainEvents, TrainOptions } from '../train/trainer.js';
import { formatEvalTable } from '../eval/evaluate.js';
import type { EvalResult } from '../eval/evaluate.js';
import { phaseBar } from './progress.js';

/** Console reporting for a training run: progress bar on a terminal, log lines otherwise. */
type Reporter = TrainEvents & { stopRequested: boolean };


function trainReporter(quiet: boolean): Reporter {
  const tty = process.stderr.isTTY;
  let bar: cliProgress.SingleBar | null = null;
  let phase = phaseBar('');
  let lastLine = 0;
  const reporter: Reporter = {
    stopRequested: false,
    onPhase(name: string) {
      bar?.stop();
      bar = null;
      phase.stop();
      phase = phaseBar(name);
      if (!quiet) console.error(`… ${name}`);
    },
    onProgress(done: number, total: number) {
      if (!quiet) phase.update(done, total);
    },
    onStart({ model, train: ds, state, stepsPerEpoch, resumed, replicas }) {
      const c = model.countParams();
      if (!quiet) {
        console.error(`${resumed ? 'resuming' : 'training'} ${model.config.arch} (${c.total.toLocaleString('en')} parameters) on ${ds.name}: ` +
          `${ds.labels.length} images, ${stepsPerEpoch} steps/epoch, from epoch ${state.epoch} step ${state.step}`);
        const e = engineInfo();
        console.error(`engine: ${e.backend}${e.backend === 'wasm' ? `, ${e.threads} thread(s)` : ''}${e.native ? ` + ${e.native} kernels on ${e.nativeThreads} thread(s)` : ''}${replicas > 1 ? `, × ${replicas} data-parallel replicas` : ''}`);
      }
    },
    onStep({ state, metrics, imagesPerSecond, stepsPerEpoch }) {
      if (quiet) return;
      const payload = { loss: metrics.loss.toFixed(3), acc: (100 * metrics.accuracy).toFixed(1), ips: imagesPerSecond.toFixed(0), lx: Number.isNaN(metrics.lx) ? '–' : metrics.lx.toFixed(3) };
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            { format: 'epoch {epoch} [{bar}] {value}/{total} | loss {loss} | L_X {lx} | acc {acc}% | {ips} img/s | eta {eta_formatted}', hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(stepsPerEpoch, state.batchInEpoch, { ...payload, epoch: state.epoch });
        }
        bar.update(state.batchInEpoch, { ...payload, epoch: state.epoch });
      } else if (Date.now() - lastLine > 10_000) {
        lastLine = Date.now();
        console.error(`epoch ${state.epoch} step ${state.batchInEpoch}/${stepsPerEpoch} | loss ${payload.loss} | L_X ${payload.lx} | acc ${payload.acc}% | ${payload.ips} img/s`);
      }
    },
    onEpochEnd({ state, eval: ev }) {
      bar?.stop();
      bar = null;
      const likelihood = ev && !Number.isNaN(ev.lx) ? `, L_X ${ev.lx.toFixed(3)}, bits/dim ${ev.bitsPerDim.toFixed(3)}` : '';
      if (!quiet && ev) console.error(`epoch ${state.epoch}: test accuracy ${(100 * ev.accuracy).toFixed(2)} % on ${ev.images} images${likelihood}`);
    },
    shouldStop() {
      return reporter.stopRequested;
    },
  };
  return reporter;
}

/** The evaluation as JSON or as the human-readable table. */
export function printEval(result: EvalResult, json: boolean): void {
  if (json) console.log(JSON.stringify(result, null, 2));
  else console.log(formatEvalTable(result));
}

export async function runTraining(opts: TrainOptions | ResumeRequest, resume: boolean, json: boolean, quiet = false): Promise<void> {
  const reporter = trainReporter(quiet);
  const onSignal = () => {
    if (reporter.stopRequested) process.exit(130);
    reporter.stopRequested = true;
    console.error('\nstopping after this step; a checkpoint will be written (press Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = resume ? await resumeTraining(opts, reporter) : await train(opts as TrainOptions, reporter);
    if (result.stoppedEarly) {
      console.error(`stopped at epoch ${result.state.epoch}, step ${result.state.step}; continue with: trustgc train --resume --out ${opts.outDir} (eval, predict, serve and export-onnx take the folder as it is: its last checkpoint)`);
    } else if (result.final) {
      printEval(result.final, json);
      if (!quiet) console.error(`per-epoch curves: trustgc curves ${opts.outDir}`);
    }
    result.model.dispose();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
