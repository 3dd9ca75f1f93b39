/** trustgc public API. */
export { initEngine, engineInfo, tf } from './engine/backend.js';
export type { BackendName, EngineInfo, EngineOptions } from './engine/backend.js';
export { nativeStatus } from './engine/native_kernels.js';
export { wasmThreadsStatus } from './engine/wasm_threads.js';

export { InvertibleModule, Module, RunContext, EVAL } from './inn/module.js';
export type { FlowResult, NamedParam } from './inn/module.js';
export { AffineCouplingBlock } from './inn/coupling.js';
export { DownsampleCouplingBlock } from './inn/downsample_coupling.js';
export { HaarDownsampling } from './inn/haar.js';
export { DctPooling } from './inn/dct.js';
export { RandomPermutation } from './inn/permute.js';
export { GlowFcCoupling } from './inn/glow_fc.js';
export { Split1D } from './inn/split.js';
export { InvertibleSequence } from './inn/sequence.js';
export { buildSubnet } from './inn/subnets.js';
export type { SubnetSpec } from './inn/subnets.js';

export { GenerativeClassifier, inferenceFrom } from './gc/model.js';
export type { Inference, InferenceModel } from './gc/model.js';
export { GaussianMixtureHead } from './gc/gmm_head.js';
export { ibLoss, lossWeights, smoothedTargets } from './gc/ib_loss.js';
export { ARCH_NAMES, defaultConfig } from './gc/presets.js';
export type { ArchName, ModelConfig } from './gc/presets.js';

export { loadDataset, DATASET_NAMES } from './data/registry.js';
export type { ImageDataset } from './data/dataset.js';

export { train, resumeTraining, DEFAULT_TRAIN_OPTIONS, TrainingDivergedError } from './train/trainer.js';
export type { TrainOptions, TrainEvents, TrainResult } from './train/trainer.js';
export { evaluate, formatEvalTable } from './eval/evaluate.js';
export type { EvalResult } from './eval/evaluate.js';
export { loadModel, saveModel } from './io/checkpoint.js';
export { TrainingStep } from './train/step.js';
export { exportOnnx } from './onnx/export.js';
export type { OnnxExportOptions, OnnxExportResult } from './onnx/export.js';
export { OnnxClassifier, loadInferenceModel, onnxAvailable, compareOnnxWithTfjs } from './onnx/runtime.js';
export type { EngineChoice } from './onnx/runtime.js';
