/**
 * trustgc command line: train, eval, info, demo, export-onnx, import, predict, calibrate-ood,
 * calibration, ood, corrupt, robustness, attack, explain, serve, explore, zoo, experiment, curves.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { initEngine, parseBackendName } from '../engine/backend.js';
import { ARCH_NAMES, DROPOUT_MODES, defaultConfig, isArchName } from '../gc/presets.js';
import { GenerativeClassifier } from '../gc/model.js';
import { createClassifier, requireGenerative } from '../gc/factory.js';
import { DEFAULT_TRAIN_OPTIONS, TrainingDivergedError } from '../train/trainer.js';
import type { ResumeRequest, TrainOptions } from '../train/trainer.js';
import { loadModel, onModelWeightsLoaded } from '../io/checkpoint.js';
import { errorReport } from '../util/errors.js';
import { loadDataset } from '../data/registry.js';
import { firstN } from '../data/dataset.js';
import { evaluate } from '../eval/evaluate.js';
import { MNIST_CLASSES } from '../data/mnist.js';
import { exportOnnx } from '../onnx/export.js';
import { ONNX_FILE, OnnxClassifier, compareOnnxWithTfjs, formatComparison, loadInferenceModel, onnxAvailable } from '../onnx/runtime.js';
import type { EngineChoice } from '../onnx/runtime.js';
import { writeFileAtomic } from '../io/safetensors.js';
import { phaseBar } from './progress.js';
import { printEval, runTraining } from './training_run.js';
import { addModelCommands, parseCrops } from './model_commands.js';
import { addTrustCommands } from './trust_commands.js';
import { addRobustnessCommands } from './robustness_commands.js';
import { addAttackCommands } from './attack_commands.js';
import { addExplainCommands } from './explain_commands.js';
import { addServeCommands } from './serve_commands.js';
import { addZooCommands, zooRoot } from './zoo_commands.js';
import { addExperimentCommands } from './experiment_commands.js';
import { addCurvesCommand } from './curves_command.js';
import { demoReport } from '../report/demo.js';
import { readClassIndex } from '../data/class_index.js';
import { evaluateClassFolder, formatFolderEval, listClassFolder } from '../eval/folder_eval.js';

const num = (what: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x) && v !== 'inf' && v !== 'Infinity') throw new InvalidArgumentError(`${what} must be a number, got "${v}"`);
  return v === 'inf' || v === 'Infinity' ? Infinity : x;
};
const int = (what: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer, got "${v}"`);
  return x;
};
/** Parser for an option that takes one of a few words; the error names them. */
const choice = <T extends string>(what: string, values: readonly T[]) => (v: string): T => {
  if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be ${values.join(' or ')}, got "${v}"`);
  return v as T;
};
const parseModelType = choice('model type', ['gc', 'dc'] as const);
const parseDropout = choice('dropout', DROPOUT_MODES);
const parseSplit = choice('split', ['test', 'train'] as const);
const list = (v: string) => v.split(',').filter(Boolean).map((s) => {
  const x = Number(s);
  if (!Number.isFinite(x)) throw new InvalidArgumentError(`"${v}" is not a comma-separated list of numbers`);
  return x;
});

function summariseNames(names: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < names.length; ) {
    const stem = names[i].replace(/_\d+$/, '');
    let j = i;
    while (j + 1 < names.length && names[j + 1].replace(/_\d+$/, '') === stem && stem !== names[j + 1]) j++;
    out.push(j > i + 1 ? `${names[i]} … ${names[j]}` : names.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return out.join(', ');
}

/** Commander errors throw (CommanderError) instead of exiting; with `throwOnError` (tests) its error text goes to console.error and help text is dropped. */
export function buildCli(opts: { throwOnError?: boolean } = {}): Command {
  const program = new Command('trustgc');
  // commander throws instead of exiting (runCli turns it into exit code 2); set before the commands
  // are added, which inherit it
  program.exitOverride();
  if (opts.throwOnError) {
    // usage errors still reach console.error, where tests read them
    program.configureOutput({ writeOut: () => {}, writeErr: (text) => console.error(text.trimEnd()) });
  }
  program
    .description('Generative classifiers that know what they do not know: train, evaluate and inspect invertible-network classifiers.')
    .option('--backend <name>', 'tensor backend: wasm (default) or cpu', (v) => parseBackendName(v))
    .option('--threads <n>', 'wasm threads (default: TRUSTGC_THREADS, else all cores)', int('threads'))
    .hook('preAction', async (cmd, action) => {
      // data-parallel replicas are the parallelism: each one, this thread included, runs single-threaded
      const replicas = (action.opts().workers as number | undefined) ?? 1;
      await initEngine({ backend: cmd.opts().backend, threads: cmd.opts().threads ?? (replicas > 1 ? 1 : undefined) });
    });

  program
    .command('train')
    .description('train a generative classifier with the Information Bottleneck loss')
    .option('--dataset <name>', 'mnist | fashion-mnist | cifar10 | folder:<path>', 'mnist')
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(' | ')}`, 'tiny-mnist')
    .option('--model-type <kind>', 'gc (generative classifier) | dc (the discriminative ResNet baseline of the same preset)', parseModelType, 'gc')
    .option('--beta <β>', 'IB trade-off β (0 = pure flow, inf = pure cross entropy)', num('beta'), DEFAULT_TRAIN_OPTIONS.beta)
    .option('--epochs <n>', 'epochs', int('epochs'), DEFAULT_TRAIN_OPTIONS.epochs)
    .option('--steps <n>', 'stop after this many steps in total', int('steps'))
    .option('--time-budget <seconds>', 'stop (with a checkpoint) after this much training time', num('time budget'))
    .option('--batch-size <n>', 'batch size', int('batch size'), DEFAULT_TRAIN_OPTIONS.batchSize)
    .option('--micro-batch <n>', 'accumulate gradients over chunks of n images (bounds memory)', int('micro batch'))
    .option('--workers <n>', 'data-parallel replicas (threads), each single-threaded, batch norm per shard; 1 = off', int('workers'), 1)
    .option('--optimizer <kind>', 'sgd | adam', 'sgd')
    .option('--lr <lr>', 'learning rate', num('lr'))
    .option('--momentum <m>', 'SGD momentum', num('momentum'), DEFAULT_TRAIN_OPTIONS.momentum)
    .option('--weight-decay <λ>', 'weight decay of the network weights', num('weight decay'), DEFAULT_TRAIN_OPTIONS.weightDecay)
    .option('--lr-decay-epochs <list>', 'epochs at which the LR decays, e.g. 120,160', list, [])
    .option('--lr-decay-factor <f>', 'LR decay factor', num('decay factor'), DEFAULT_TRAIN_OPTIONS.lrDecayFactor)
    .option('--clip <norm>', 'global gradient-norm clip (0 = off)', num('clip'), DEFAULT_TRAIN_OPTIONS.clipNorm)
    .option('--label-smoothing <ε>', 'label smoothing (default from the architecture)', num('label smoothing'))
    .option('--dropout <mode>', `${DROPOUT_MODES.join(' | ')}: the architecture's dropout rates, or none`, parseDropout, 'preset')
    .option('--shift <px>', 'random translation augmentation, pixels', int('shift'), 0)
    .option('--flip', 'random horizontal flips', false)
    .option('--noise <σ>', 'Gaussian input noise σ (besides uniform dequantisation)', num('noise'), DEFAULT_TRAIN_OPTIONS.augment.noiseStd)
    .option('--checkpoint-every <steps>', 'checkpoint interval in steps', int('checkpoint interval'), DEFAULT_TRAIN_OPTIONS.checkpointEverySteps)
    .option('--eval-every <epochs>', 'evaluate on test images every n epochs (0 = only at the end)', int('eval interval'), DEFAULT_TRAIN_OPTIONS.evalEveryEpochs)
    .option('--train-limit <n>', 'use only the first n training images', int('train limit'))
    .option('--test-limit <n>', 'evaluate the finished model on only the first n test images', int('test limit'))
    .option('--seed <n>', 'random seed', int('seed'), 0)
    .option('--out <dir>', 'run folder (checkpoints, metrics.jsonl, model)', 'runs/latest')
    .option('--resume', 'continue the run in --out from its last checkpoint', false)
    .option('--json', 'print the final evaluation as JSON', false)
    .action(async (o, cmd: Command) => {
      if (o.resume) {
        // a resumed run keeps its stored settings; only an explicit --epochs/--steps/--time-budget applies,
        // and --lr-decay-epochs for decays the run has not reached
        const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
        const request: ResumeRequest = {
          outDir: o.out,
          epochs: given('epochs') ? o.epochs : undefined,
          lrDecayEpochs: given('lrDecayEpochs') ? o.lrDecayEpochs : undefined,
          maxSteps: o.steps,
          timeBudgetSeconds: o.timeBudget,
          workers: given('workers') ? o.workers : undefined,
        };
        await runTraining(request, true, o.json);
        return;
      }
      if (!isArchName(o.arch)) throw new InvalidArgumentError(`unknown architecture "${o.arch}": expected one of ${ARCH_NAMES.join(', ')}`);
      if (o.optimizer !== 'sgd' && o.optimizer !== 'adam') throw new InvalidArgumentError(`unknown optimizer "${o.optimizer}": expected sgd or adam`);
      const opts: TrainOptions = {
        ...DEFAULT_TRAIN_OPTIONS,
        dataset: o.dataset,
        arch: o.arch,
        modelType: o.modelType,
        beta: o.beta,
        epochs: o.epochs,
        maxSteps: o.steps,
        timeBudgetSeconds: o.timeBudget,
        batchSize: o.batchSize,
        microBatch: o.microBatch,
        workers: o.workers,
        optimizer: o.optimizer,
        lr: o.lr ?? (o.optimizer === 'adam' ? 1e-3 : DEFAULT_TRAIN_OPTIONS.lr),
        momentum: o.momentum,
        weightDecay: o.weightDecay,
        lrDecayEpochs: o.lrDecayEpochs,
        lrDecayFactor: o.lrDecayFactor,
        clipNorm: o.clip,
        labelSmoothing: o.labelSmoothing,
        dropout: o.dropout,
        augment: { ...DEFAULT_TRAIN_OPTIONS.augment, shift: o.shift, flip: o.flip, noiseStd: o.noise },
        checkpointEverySteps: o.checkpointEvery,
        evalEveryEpochs: o.evalEvery,
        trainLimit: o.trainLimit,
        testLimit: o.testLimit,
        seed: o.seed,
        outDir: o.out,
      };
      await runTraining(opts, false, o.json);
    });

  program
    .command('eval')
    .description('evaluate a trained model: accuracy, L_X, L_Y, bits/dim')
    .requiredOption('--model <dir>', 'model folder (config.json + model.safetensors)')
    .option('--dataset <name>', 'data set', 'mnist')
    .option('--split <name>', 'test | train (training accuracy: how well the model fits its data, without augmentation)', parseSplit, 'test')
    .option('--limit <n>', 'evaluate only the first n images (class-sorted sets: taken round-robin over the classes)', int('limit'))
    .option('--data <folder>', 'evaluate an image folder <folder>/<class id>/<image> instead (ImageNet style: resize, crops, top-1/top-5)')
    .option('--class-index <file>', 'with --data: class ids in model order (default: the model\'s class ids or names)')
    .option('--crops <n>', 'with --data: 1 (centre crop) or 10 (TenCrop, posteriors averaged)', parseCrops, 1)
    .option('--engine <name>', 'auto (onnxruntime when the model has an ONNX export and onnxruntime-node loads, else tfjs) | tfjs | onnx', 'auto')
    .option('--json', 'print JSON', false)
    .action(async (o) => {
      const model = await loadInferenceModel(o.model, o.engine as EngineChoice);
      if (o.data) {
        const ids = o.classIndex ? readClassIndex(o.classIndex).ids : (model.config.classIds ?? model.config.classNames);
        if (ids.length !== model.classes) throw new Error(`the class index lists ${ids.length} classes, the model has ${model.classes}`);
        const files = listClassFolder(o.data, ids, o.limit);
        const bar = phaseBar(`evaluating ${files.length} images × ${o.crops} crop${o.crops > 1 ? 's' : ''}`);
        const r = await evaluateClassFolder(model, files, { crops: o.crops, name: o.data, onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        console.log(o.json ? JSON.stringify(r, null, 2) : formatFolderEval(r));
        await model.dispose();
        return;
      }
      const decoding = phaseBar('decoding images');
      const ds = firstN(await loadDataset(o.dataset, o.split, { onProgress: (d, t) => decoding.update(d, t) }), o.limit);
      const bar = phaseBar(`evaluating (${model instanceof OnnxClassifier ? 'onnxruntime' : 'tfjs'})`);
      const result = await evaluate(model, ds, { onProgress: (d, t) => bar.update(d, t) });
      bar.stop();
      printEval(result, o.json);
      await model.dispose();
    });

  program
    .command('export-onnx')
    .description('export a trained model\'s inference graph (x → z, log-det, logits) to <model>/model.onnx for onnxruntime')
    .requiredOption('--model <dir>', 'model folder (config.json + model.safetensors)')
    .option('--batch <n>', 'batch size the graph is fixed to (other sizes are split and padded)', int('batch'), 64)
    .option('--out <file>', 'output file (default <model>/model.onnx)')
    .option('--no-verify', 'skip comparing onnxruntime with tfjs on random images')
    .action(async (o) => {
      const model = requireGenerative(loadModel(o.model), 'export-onnx');
      const result = exportOnnx(model, { batch: o.batch });
      const out = o.out ?? join(o.model, ONNX_FILE);
      writeFileAtomic(out, result.bytes);
      console.log(`wrote ${out}: ${result.nodes} nodes, ${result.initializers} initializers, ${(result.bytes.length / 1e6).toFixed(1)} MB, batch ${result.batch}`);
      if (o.verify) {
        if (!(await onnxAvailable())) {
          console.log('onnxruntime-node is not available here: skipped the comparison with tfjs');
        } else {
          const report = await compareOnnxWithTfjs(model, await OnnxClassifier.fromBytes(result.bytes, model.config, {}, out), 8);
          console.log(`onnxruntime vs tfjs on 8 random images: ${formatComparison(report)}`);
          if (!report.ok) throw new Error('the ONNX export does not reproduce the tfjs model within tolerance');
        }
      }
      model.dispose();
    });

  program
    .command('info')
    .description('architecture summary and parameter counts')
    .option('--arch <name>', 'architecture', 'ibinn-mnist')
    .option('--model-type <kind>', 'gc (generative classifier) | dc (its discriminative ResNet baseline)', parseModelType, 'gc')
    .option('--model <dir>', 'inspect a saved model instead')
    .action((o) => {
      if (!o.model && !isArchName(o.arch)) throw new InvalidArgumentError(`unknown architecture "${o.arch}"`);
      // the class count only matters for the head: the ImageNet model has 1000 classes, the others 10
      const classes = o.arch === 'imagenet-resnet50-inn' ? Array.from({ length: 1000 }, (_, k) => String(k)) : MNIST_CLASSES;
      const model = o.model ? loadModel(o.model) : createClassifier(defaultConfig(o.arch, classes, 0, o.modelType));
      const c = model.countParams();
      const i = model.config.input;
      const macs = model.macs();
      const g = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(3)} G` : `${(n / 1e6).toFixed(2)} M`);
      console.log(`architecture  ${model.config.arch}${model.kind === 'dc' ? ' (discriminative ResNet baseline)' : ''}`);
      if (model instanceof GenerativeClassifier) {
        console.log(`input         ${i.height}×${i.width}×${i.channels}, latent ${model.dims} dims, ${model.classes} classes`);
        console.log(`nodes         ${model.inn.nodes.length}: ${summariseNames(model.inn.nodes.map((n) => n.name))}`);
        console.log(`parameters    ${c.total.toLocaleString('en')} (network ${c.inn.toLocaleString('en')}, head ${c.head.toLocaleString('en')})`);
        console.log(
          `MACs / image  ${g(macs.learned + macs.fixed)} (learned subnets ${g(macs.learned)}, fixed mixing/reshape/Haar/DCT as dense ops ${g(macs.fixed)}; head ${g(macs.head)})`,
        );
      } else {
        console.log(`input         ${i.height}×${i.width}×${i.channels}, ${model.classes} classes`);
        console.log(`parameters    ${c.total.toLocaleString('en')} (network ${c.inn.toLocaleString('en')}, classifier ${c.head.toLocaleString('en')})`);
        console.log(`MACs / image  ${g(macs.learned + macs.head)}`);
      }
      model.dispose();
    });

  addModelCommands(program);
  addTrustCommands(program);
  addRobustnessCommands(program);
  addAttackCommands(program);
  addExplainCommands(program);
  addServeCommands(program);
  addZooCommands(program);
  addExperimentCommands(program);
  addCurvesCommand(program);

  program
    .command('demo')
    .description('the main job: evaluate a shipped model on its test set and OoD sets, check it against its card, and write a short report with figures (--train: train a small GC instead)')
    .option('--model <dir>', 'model folder (default: the shipped MNIST model)', join(zooRoot(), 'mnist-gc-beta1'))
    .option('--dataset <name>', 'its data set', 'mnist')
    .option('--out <dir>', 'report folder', join('reports', 'demo'))
    .option('--train', 'instead: train tiny-mnist for --steps steps and evaluate it', false)
    .option('--steps <n>', 'training steps (with --train)', int('steps'), 300)
    .action(async (o) => {
      if (!o.train) {
        const r = await demoReport(o.model, o.dataset, o.out, (what) => console.error(`… ${what}`));
        console.log(`accuracy ${r.accuracy.toFixed(2)} %, bits/dim ${r.bitsPerDim?.toFixed(3) ?? '–'}, ECE ${r.ece.toFixed(2)} %`);
        console.log(`OoD AUROC (two-tailed): ${Object.entries(r.oodAuroc).map(([k, v]) => `${k} ${v.toFixed(1)} %`).join(', ')}`);
        if (r.cardVerified !== null) console.log(`model card: ${r.cardVerified ? 'all figures reproduced' : 'some figures are OFF the card (see the report)'}`);
        console.log(`report: ${join(o.out, 'index.html')} (${r.files.length} files, ${r.seconds.toFixed(0)} s)`);
        return;
      }
      const out = join('runs', 'demo');
      rmSync(out, { recursive: true, force: true });
      const opts: TrainOptions = {
        ...DEFAULT_TRAIN_OPTIONS,
        dataset: 'mnist',
        arch: 'tiny-mnist',
        optimizer: 'adam',
        lr: 1e-3,
        epochs: 1,
        maxSteps: undefined,
        trainLimit: o.steps * 64,
        batchSize: 64,
        evalEveryEpochs: 0,
        outDir: out,
      };
      await runTraining(opts, false, false);
    });

  return program;
}

/**
 * Runs the CLI and returns its exit code: 0 done, 2 bad input or usage (one line naming the problem
 * and the fix), 3 training diverged, 1 anything else. Commander prints its own usage errors.
 */
export async function runCli(argv: string[], opts: { throwOnError?: boolean } = {}): Promise<number> {
  const program = buildCli(opts);
  onModelWeightsLoaded((source) => console.error(`model weights: ${source.description}`));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof InvalidArgumentError) {
      // thrown by an action of ours (commander reports those raised while parsing itself)
      console.error(`error: ${e.message}`);
      return 2;
    }
    if (e instanceof CommanderError) {
      // --help and --version end here too; commander has printed the usage error already
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
    }
    const report = e instanceof TrainingDivergedError ? { line: `error: ${e.message}`, exitCode: 3 } : errorReport(e);
    console.error(report.line);
    if (process.env.TRUSTGC_DEBUG) console.error((e as Error).stack);
    return report.exitCode;
  } finally {
    onModelWeightsLoaded(null);
  }
}

export async function main(argv = process.argv): Promise<void> {
  const code = await runCli(argv);
  // a server started by serve/explore keeps the process alive; everything else ends here
  if (code !== 0) process.exit(code);
}
