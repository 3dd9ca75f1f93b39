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

export { DiscriminativeClassifier } from './gc/discriminative.js';
export { createClassifier } from './gc/factory.js';
export type { Classifier } from './gc/classifier.js';
export { IMAGENET_LAYOUTS } from './gc/imagenet_inn.js';
export { openTorchFile, TorchTensor } from './io/torch/torch_file.js';
export { importOfficialCheckpoint } from './io/torch/import_official.js';
export type { ImportOptions, ImportReport } from './io/torch/import_official.js';
export { readClassIndex, parseClassIndex } from './data/class_index.js';
export { imageCrops, cropSpec } from './data/crops.js';
export { imageForModel } from './data/model_input.js';
export { evaluateClassFolder, listClassFolder } from './eval/folder_eval.js';
export { calibration } from './eval/calibration.js';
export type { CalibrationResult, CalibrationConvention } from './eval/calibration.js';
export { oodEvaluation, scoreSet } from './eval/ood.js';
export type { OodReport } from './eval/ood.js';
export { detectionMetrics, auroc } from './eval/ood_metrics.js';
export { makeReference, pValues, loadReference, saveReference, referenceFromDataset } from './eval/ood_reference.js';
export { buildOodSet, OOD_SET_NAMES } from './data/ood_sets.js';
export { analyzeBatch } from './explain/analyze.js';
export type { ImageAnalysis, AnalysisOptions } from './explain/analyze.js';
export { integratedGradients, posteriorHeatmaps } from './explain/attribution.js';
export type { PosteriorHeatmaps } from './explain/attribution.js';
export { buildServer } from './serve/server.js';
export type { ServeOptions } from './serve/server.js';
export { modelFromBytes } from './io/model_weights.js';
