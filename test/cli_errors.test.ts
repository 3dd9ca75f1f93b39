/**
 * Every CLI command, walked through the mistakes users make: a missing folder, a file where a folder
 * belongs (and the reverse), a truncated safetensors or JSON file, a file of the wrong kind, an
 * unknown data set, class or name. Each must end with exit code 2 and one line that names the file
 * or the name at fault — no stack trace, no raw ENOENT. The table must cover every command the CLI
 * has, so a new command cannot skip this.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildCli, runCli } from '../src/cli/main.js';
import { projectRoot } from '../src/util/paths.js';

const root = projectRoot();
const ZOO_MODEL = join(root, 'zoo', 'mnist-gc-beta1');
const tmp = mkdtempSync(join(tmpdir(), 'trustgc-cli-errors-'));

// fixtures: each is a path a user might pass by mistake
const missing = join(tmp, 'no-such-folder');
const textFile = join(tmp, 'notes.txt');
const truncatedWeights = join(tmp, 'truncated-weights'); // model folder, model.safetensors cut in half
const truncatedConfig = join(tmp, 'truncated-config'); // model folder, config.json cut off
const wrongKindWeights = join(tmp, 'wrong-kind-weights'); // model folder whose model.safetensors is a PNG
const noWeights = join(tmp, 'no-weights'); // config.json only
const goodModel = join(tmp, 'model'); // a working model (for the cases that get other things wrong)
const truncatedPng = join(tmp, 'digit.png');
const truncatedJson = join(tmp, 'class-index.json');

beforeAll(() => {
  writeFileSync(textFile, 'not an image, not a model\n');
  const config = readFileSync(join(ZOO_MODEL, 'config.json'));
  const weights = readFileSync(join(ZOO_MODEL, 'model.safetensors'));
  for (const dir of [truncatedWeights, truncatedConfig, wrongKindWeights, noWeights, goodModel]) mkdirSync(dir, { recursive: true });
  writeFileSync(join(truncatedWeights, 'config.json'), config);
  writeFileSync(join(truncatedWeights, 'model.safetensors'), weights.subarray(0, weights.length >> 1));
  writeFileSync(join(truncatedConfig, 'config.json'), config.subarray(0, config.length >> 1));
  writeFileSync(join(truncatedConfig, 'model.safetensors'), weights);
  writeFileSync(join(wrongKindWeights, 'config.json'), config);
  copyFileSync(join(root, 'docs', 'explorer.png'), join(wrongKindWeights, 'model.safetensors'));
  writeFileSync(join(noWeights, 'config.json'), config);
  for (const f of ['config.json', 'model.safetensors', 'ood_reference.json']) copyFileSync(join(ZOO_MODEL, f), join(goodModel, f));
  writeFileSync(truncatedPng, readFileSync(join(root, 'docs', 'explorer.png')).subarray(0, 200));
  writeFileSync(truncatedJson, '{"0": ["n01440764", "te');
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The mistakes every command that reads a model folder is walked through. */
const MODEL_MISTAKES: Array<[string, string]> = [
  ['missing folder', missing],
  ['a file, not a folder', textFile],
  ['truncated model.safetensors', truncatedWeights],
  ['truncated config.json', truncatedConfig],
  ['model.safetensors that is a PNG', wrongKindWeights],
  ['no weights file', noWeights],
];

interface Case {
  what: string;
  argv: string[];
  /** the text the one line must contain (the path or the name at fault) */
  names: string;
}

/** Every mistake with a model folder, for a command whose other arguments are `rest`. */
function modelCases(command: string[], rest: string[] = [], flag = '--model'): Case[] {
  return MODEL_MISTAKES.map(([what, dir]) => ({ what, argv: [...command, flag, dir, ...rest], names: dir }));
}

const CASES: Record<string, Case[]> = {
  train: [
    { what: 'unknown data set', argv: ['train', '--dataset', 'nosuch', '--steps', '1', '--out', join(tmp, 'run-a')], names: 'nosuch' },
    { what: 'missing image folder', argv: ['train', '--dataset', `folder:${missing}`, '--steps', '1', '--out', join(tmp, 'run-b')], names: missing },
    { what: 'unknown architecture', argv: ['train', '--arch', 'resnet9000', '--out', join(tmp, 'run-c')], names: 'resnet9000' },
    { what: 'resume without a run', argv: ['train', '--resume', '--out', missing], names: missing },
    { what: '--out is a file', argv: ['train', '--steps', '1', '--out', textFile], names: textFile },
  ],
  eval: [
    ...modelCases(['eval'], ['--limit', '10']),
    { what: 'unknown data set', argv: ['eval', '--model', goodModel, '--dataset', 'nosuch'], names: 'nosuch' },
    { what: 'missing image folder', argv: ['eval', '--model', goodModel, '--data', missing], names: missing },
    { what: 'truncated class index', argv: ['eval', '--model', goodModel, '--data', tmp, '--class-index', truncatedJson], names: truncatedJson },
  ],
  'export-onnx': modelCases(['export-onnx'], ['--out', join(tmp, 'x.onnx')]),
  info: [...modelCases(['info']), { what: 'unknown architecture', argv: ['info', '--arch', 'resnet9000'], names: 'resnet9000' }],
  import: [
    { what: 'missing checkpoint', argv: ['import', join(tmp, 'beta_8.avg.pt'), '--out', join(tmp, 'imp')], names: join(tmp, 'beta_8.avg.pt') },
    { what: 'a text file', argv: ['import', textFile, '--out', join(tmp, 'imp')], names: textFile },
    { what: 'a folder', argv: ['import', tmp, '--out', join(tmp, 'imp')], names: tmp },
  ],
  predict: [
    ...modelCases(['predict'], [textFile]),
    { what: 'missing image', argv: ['predict', '--model', goodModel, join(tmp, 'nosuch.png')], names: join(tmp, 'nosuch.png') },
    { what: 'a text file as image', argv: ['predict', '--model', goodModel, textFile], names: textFile },
    { what: 'truncated PNG', argv: ['predict', '--model', goodModel, truncatedPng], names: truncatedPng },
  ],
  'calibrate-ood': [
    ...modelCases(['calibrate-ood'], ['--data', tmp]),
    { what: 'missing image folder', argv: ['calibrate-ood', '--model', goodModel, '--data', missing], names: missing },
  ],
  calibration: [...modelCases(['calibration'], ['--limit', '10']), { what: 'unknown data set', argv: ['calibration', '--model', goodModel, '--dataset', 'nosuch'], names: 'nosuch' }],
  ood: [
    ...modelCases(['ood'], ['--limit', '10']),
    { what: 'unknown OoD set', argv: ['ood', '--model', goodModel, '--out', 'nosuch', '--limit', '10'], names: 'nosuch' },
    { what: 'unknown data set', argv: ['ood', '--model', goodModel, '--in', 'nosuch', '--limit', '10'], names: 'nosuch' },
    { what: 'missing OoD folder', argv: ['ood', '--model', goodModel, '--out', `folder:${missing}`, '--limit', '10'], names: missing },
  ],
  corrupt: [
    { what: 'unknown data set', argv: ['corrupt', '--dataset', 'nosuch', '--grid', join(tmp, 'g.png')], names: 'nosuch' },
    { what: 'unknown corruption', argv: ['corrupt', '--corruption', 'lava', '--severity', '1', '--limit', '1', '--out', join(tmp, 'c')], names: 'lava' },
  ],
  robustness: [
    ...modelCases(['robustness'], ['--limit', '2', '--corruptions', 'fog', '--severities', '1']),
    { what: 'missing baseline', argv: ['robustness', '--model', goodModel, '--baseline', missing, '--limit', '2', '--corruptions', 'fog', '--severities', '1'], names: missing },
    { what: 'unknown corruption', argv: ['robustness', '--model', goodModel, '--limit', '2', '--corruptions', 'lava'], names: 'lava' },
  ],
  attack: [...modelCases(['attack'], ['--n', '2']), { what: 'unknown data set', argv: ['attack', '--model', goodModel, '--dataset', 'nosuch', '--n', '2'], names: 'nosuch' }],
  'explain decision-space': [
    ...modelCases(['explain', 'decision-space']),
    { what: 'missing image', argv: ['explain', 'decision-space', '--model', goodModel, '--image', join(tmp, 'nosuch.png')], names: join(tmp, 'nosuch.png') },
    { what: 'unknown data set', argv: ['explain', 'decision-space', '--model', goodModel, '--dataset', 'nosuch'], names: 'nosuch' },
  ],
  'explain similarity': modelCases(['explain', 'similarity'], ['--out', join(tmp, 'sim')]),
  'explain samples': [
    ...modelCases(['explain', 'samples'], ['--out', join(tmp, 's.png')]),
    { what: 'unknown class', argv: ['explain', 'samples', '--model', goodModel, '--classes', 'giraffe', '--out', join(tmp, 's.png')], names: 'giraffe' },
  ],
  'explain receptive-field': [...modelCases(['explain', 'receptive-field'], ['--limit', '2']), { what: 'unknown data set', argv: ['explain', 'receptive-field', '--model', goodModel, '--dataset', 'nosuch'], names: 'nosuch' }],
  'explain planar': [...modelCases(['explain', 'planar'], ['--steps', '1']), { what: 'unknown data set', argv: ['explain', 'planar', '--model', goodModel, '--dataset', 'nosuch'], names: 'nosuch' }],
  'explain heatmap': [
    ...modelCases(['explain', 'heatmap'], ['--image', textFile]),
    { what: 'truncated PNG', argv: ['explain', 'heatmap', '--model', goodModel, '--image', truncatedPng], names: truncatedPng },
  ],
  'explain dct-influence': modelCases(['explain', 'dct-influence']),
  'explain latent': [
    ...modelCases(['explain', 'latent'], ['--limit', '10', '--out', join(tmp, 'l.png')]),
    { what: 'unknown data set', argv: ['explain', 'latent', '--model', goodModel, '--dataset', 'nosuch', '--out', join(tmp, 'l.png')], names: 'nosuch' },
  ],
  serve: modelCases(['serve'], ['--port', '0']),
  explore: modelCases(['explore'], ['--port', '0']),
  'zoo list': [{ what: 'missing zoo folder', argv: ['zoo', 'list'], names: missing }],
  'zoo verify': [{ what: 'unknown model', argv: ['zoo', 'verify', 'no-such-model'], names: 'no-such-model' }],
  'zoo reproduce': [{ what: 'unknown model', argv: ['zoo', 'reproduce', 'no-such-model'], names: 'no-such-model' }],
  'zoo convert': [{ what: 'unknown model', argv: ['zoo', 'convert', 'no-such-model'], names: 'no-such-model' }],
  'zoo remeasure': [{ what: 'unknown model', argv: ['zoo', 'remeasure', 'no-such-model', '--reason', 'test'], names: 'no-such-model' }],
  'zoo add': [
    ...MODEL_MISTAKES.map(([what, dir]): Case => ({ what, argv: ['zoo', 'add', dir, '--name', 'x', '--dataset', 'mnist', '--command', 'c', '--budget', 'b'], names: dir })),
    { what: 'unknown data set', argv: ['zoo', 'add', goodModel, '--name', 'x', '--dataset', 'nosuch', '--command', 'c', '--budget', 'b'], names: 'nosuch' },
  ],
  'experiment beta-sweep': [{ what: 'unknown data set', argv: ['experiment', 'beta-sweep', '--dataset', 'nosuch', '--out', join(tmp, 'sweep')], names: 'nosuch' }],
  curves: [
    { what: 'missing run folder', argv: ['curves', missing, '--out', join(tmp, 'curves')], names: missing },
    { what: 'a file, not a run', argv: ['curves', textFile, '--out', join(tmp, 'curves')], names: textFile },
  ],
  demo: [...modelCases(['demo'], ['--out', join(tmp, 'demo')]), { what: 'unknown data set', argv: ['demo', '--model', goodModel, '--dataset', 'nosuch', '--out', join(tmp, 'demo')], names: 'nosuch' }],
};

function leafCommands(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => (c.commands.length ? leafCommands(c, [...prefix, c.name()]) : [[...prefix, c.name()].join(' ')]));
}

async function run(argv: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const grab = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  const err = vi.spyOn(console, 'error').mockImplementation(grab);
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const warn = vi.spyOn(console, 'warn').mockImplementation(grab);
  const before = process.env.TRUSTGC_ZOO;
  if (argv[0] === 'zoo' && argv[1] === 'list') process.env.TRUSTGC_ZOO = missing;
  try {
    const code = await runCli(['node', 'trustgc', '--threads', '1', ...argv], { throwOnError: true });
    // progress phases and the line naming a loaded model's weights file are not errors
    return { code, lines: lines.filter((l) => !l.startsWith('… ') && !l.startsWith('model weights: ')) };
  } finally {
    if (before === undefined) delete process.env.TRUSTGC_ZOO;
    else process.env.TRUSTGC_ZOO = before;
    err.mockRestore();
    log.mockRestore();
    warn.mockRestore();
  }
}

describe('CLI errors: exit code 2 and one line naming the problem', () => {
  it('the table covers every command', () => {
    expect(leafCommands(buildCli({ throwOnError: true })).sort()).toEqual(Object.keys(CASES).sort());
  });

  it('usage errors (unknown command, missing or invalid option) also exit 2 with one line', async () => {
    for (const argv of [['evil'], ['eval'], ['train', '--epochs', 'x'], ['explain', 'decision-space', '--model', goodModel, '--alpha', '2']]) {
      const { code, lines } = await run(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(lines.join('\n'), argv.join(' ')).toMatch(/^error: /);
    }
  });

  for (const [command, cases] of Object.entries(CASES)) {
    it(command, async () => {
      for (const c of cases) {
        const { code, lines } = await run(c.argv);
        const context = `${command} (${c.what}): ${JSON.stringify(lines)}`;
        expect(code, context).toBe(2);
        expect(lines.length, context).toBe(1);
        expect(lines[0], context).toMatch(/^error: /);
        expect(lines[0], context).toContain(c.names);
        expect(lines[0], context).not.toMatch(/ENOENT|EISDIR|ENOTDIR|\n|\s+at .*:\d+:\d+/);
      }
    });
  }
});
