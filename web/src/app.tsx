/** The explorer page: an input (drawing or image file) on the left, everything the model says on the right. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { loadModel } from './engine.js';
import type { Heatmaps, ImageAnalysis, LoadedModel } from './engine.js';
import { pixelsFromDrawing, pixelsFromFile } from './preprocess.js';
import type { ModelPixels } from './preprocess.js';
import { DecisionSpacePlot, HeatmapView, ImagePreview, LikelihoodPlot, PosteriorBars, SimilarityMatrix } from './plots.js';

const ALPHA = 0.01;

function DrawPad({ onDone }: { onDone: (canvas: HTMLCanvasElement) => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const clear = () => {
    const ctx = ref.current!.getContext('2d')!;
    ctx.fillStyle = 'black';
    ctx.fillRect(0, 0, 280, 280);
  };
  useEffect(clear, []);
  const at = (e: PointerEvent) => {
    const r = ref.current!.getBoundingClientRect();
    return [((e.clientX - r.left) * 280) / r.width, ((e.clientY - r.top) * 280) / r.height];
  };
  const move = (e: PointerEvent) => {
    if (!drawing.current) return;
    const ctx = ref.current!.getContext('2d')!;
    const [x, y] = at(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  };
  const down = (e: PointerEvent) => {
    drawing.current = true;
    const ctx = ref.current!.getContext('2d')!;
    ctx.strokeStyle = 'white';
    ctx.lineWidth = 20;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 0.1, y);
    ctx.stroke();
  };
  const up = () => {
    if (!drawing.current) return;
    drawing.current = false;
    onDone(ref.current!);
  };
  return (
    <div>
      <canvas data-testid="draw-pad" class="pad" ref={ref} width={280} height={280} style={{ width: 280, height: 280 }} onPointerDown={down} onPointerMove={move} onPointerUp={up} onPointerLeave={up} />
      <div class="row">
        <button onClick={clear}>clear</button>
        <span class="note">draw with the mouse; it is classified when you lift it</span>
      </div>
    </div>
  );
}

interface Result {
  /** which input this is (counts up; tests wait on it) */
  run: number;
  input: ModelPixels;
  analysis: ImageAnalysis;
  heatmaps: Heatmaps | null | 'pending';
}

export function App() {
  const mode = new URLSearchParams(location.search).get('mode') === 'server' ? 'server' : 'browser';
  const [model, setModel] = useState<LoadedModel | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [busy, setBusy] = useState(false);
  const [over, setOver] = useState(false);
  const run = useRef(0);

  useEffect(() => {
    loadModel('', mode).then(setModel, (e) => setError(`cannot load the model: ${(e as Error).message}`));
  }, []);

  async function classify(input: ModelPixels | null) {
    if (!model || !input) return;
    const id = ++run.current;
    setBusy(true);
    setError(null);
    try {
      const analysis = await model.analyze(input.pixels);
      if (id !== run.current) return;
      setResult({ run: id, input, analysis, heatmaps: model.kind === 'gc' ? 'pending' : null });
      // let the page paint the prediction before the (slower) heatmaps
      await new Promise((r) => setTimeout(r, 30));
      const heatmaps = await model.heatmaps(input.pixels);
      if (id === run.current) setResult({ run: id, input, analysis, heatmaps });
    } catch (e) {
      if (id === run.current) setError((e as Error).message);
    } finally {
      if (id === run.current) setBusy(false);
    }
  }

  async function fromFile(file: File | undefined) {
    if (!file || !model) return;
    try {
      await classify(await pixelsFromFile(file, model.config));
    } catch (e) {
      setError((e as Error).message);
    }
  }

  const cfg = model?.config;
  const shape: [number, number, number] | null = cfg ? [cfg.input.height, cfg.input.width, cfg.input.channels] : null;
  const a = result?.analysis;
  const ood = a?.ood;
  return (
    <>
      <header>
        <h1>trustgc explorer</h1>
        <span class="status" data-testid="status" data-ready={model ? 'true' : 'false'}>
          {model ? `${cfg!.arch} ${model.kind === 'gc' ? 'generative classifier' : 'discriminative baseline'} · ${cfg!.classNames.length} classes · ${model.parameters.toLocaleString('en')} parameters · computed by ${model.backend}` : error ? 'failed' : 'loading model…'}
        </span>
      </header>
      <main>
        <div>
          <section>
            <h2>Input</h2>
            {cfg && cfg.input.channels === 1 && <DrawPad onDone={(c) => classify(pixelsFromDrawing(c, cfg))} />}
            <div
              class={`drop ${over ? 'over' : ''}`}
              onDragOver={(e) => {
                e.preventDefault();
                setOver(true);
              }}
              onDragLeave={() => setOver(false)}
              onDrop={(e) => {
                e.preventDefault();
                setOver(false);
                void fromFile(e.dataTransfer?.files[0]);
              }}
            >
              drop an image here, or <input data-testid="file-input" type="file" accept="image/*" onChange={(e) => fromFile((e.target as HTMLInputElement).files?.[0])} />
            </div>
          </section>
          {result && shape && (
            <section>
              <h2>What the model sees</h2>
              <ImagePreview pixels={result.input.pixels} shape={shape} />
              <div class="note">{result.input.note}</div>
            </section>
          )}
          {model?.similarity && (
            <section>
              <h2>Class similarity</h2>
              <SimilarityMatrix sim={model.similarity} highlight={a?.top[0]?.class} />
              <div class="note">expected confusion 1 − Φ(Δμ/2) between class means: bright = often confused (hover a cell); outlined: the predicted class; closest pair: {model.similarity.closestPairs[0] ? `${cfg!.classNames[model.similarity.closestPairs[0].a]} / ${cfg!.classNames[model.similarity.closestPairs[0].b]}` : '–'}</div>
            </section>
          )}
        </div>
        <div>
          {error && <p class="error" data-testid="error">{error}</p>}
          {busy && !result && <p>computing…</p>}
          {a && cfg && (
            <div data-testid="result" data-run={result!.run} data-complete={result!.heatmaps === 'pending' ? 'false' : 'true'}>
              <section>
                <div data-testid="verdict" data-verdict={ood ? (ood.outOfDistribution ? 'ood' : 'in') : 'none'} class={`verdict ${ood ? (ood.outOfDistribution ? 'ood' : 'in') : 'none'}`}>
                  {ood ? (ood.outOfDistribution ? `out of distribution (p = ${ood.twoTailed.toPrecision(2)} < ${ALPHA})` : `in distribution (p = ${ood.twoTailed.toPrecision(2)})`) : 'no likelihood verdict (no OoD reference, or a discriminative model)'}
                </div>
                <p class="sentence" data-testid="sentence">{a.explanation?.sentence ?? `This is ${a.top[0].name} (p = ${a.top[0].probability.toFixed(3)}).`}</p>
                <small class="figures">
                  log p(x) = {a.logPx.toFixed(1)} nats · {a.bitsPerDim.toFixed(3)} bits/dim · entropy {a.entropy.toFixed(3)} nats
                  {ood && ` · p-values: two-tailed ${ood.twoTailed.toPrecision(2)}, one-tailed ${ood.oneTailed.toPrecision(2)}, typicality ${ood.typicality.toPrecision(2)}`}
                </small>
              </section>
              <div class="grid">
                <section>
                  <h2>Posterior</h2>
                  <PosteriorBars analysis={a} names={cfg.classNames} />
                </section>
                {model?.reference && (
                  <section>
                    <h2>Likelihood against the training images</h2>
                    <LikelihoodPlot reference={model.reference} lx={a.lx} alpha={ALPHA} />
                  </section>
                )}
                {a.explanation && (
                  <section>
                    <h2>Decision space ({a.explanation.case})</h2>
                    <DecisionSpacePlot ds={a.explanation.decision} names={cfg.classNames} />
                  </section>
                )}
                {result!.heatmaps && shape && (
                  <section>
                    <h2>Where the evidence is</h2>
                    {result!.heatmaps === 'pending' ? (
                      <p class="note">computing heatmaps…</p>
                    ) : (
                      <>
                        <HeatmapView pixels={result!.input.pixels} shape={shape} heatmaps={result!.heatmaps} names={cfg.classNames} />
                        <div class="note">red raises, blue lowers log q(y|x) ({result!.heatmaps.method === 'integrated-gradients' ? 'integrated gradients from a black image' : 'DCT decomposition, paper Eqs. 14–21'})</div>
                      </>
                    )}
                  </section>
                )}
              </div>
            </div>
          )}
        </div>
      </main>
    </>
  );
}
