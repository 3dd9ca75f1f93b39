/** Builds the classifier a configuration describes: generative (default) or discriminative. */
import { GenerativeClassifier } from './model.js';
import { DiscriminativeClassifier } from './discriminative.js';
import type { Classifier } from './classifier.js';
import type { ModelConfig } from './presets.js';

export function createClassifier(config: ModelConfig): Classifier {
  return config.modelType === 'dc' ? new DiscriminativeClassifier(config) : new GenerativeClassifier(config);
}

/** The model as a generative classifier, or a clear error for commands that need a likelihood model. */
export function requireGenerative(model: Classifier, what: string): GenerativeClassifier {
  if (!(model instanceof GenerativeClassifier)) throw new Error(`${what} needs a generative classifier; this model is a discriminative baseline (--model-type dc)`);
  return model;
}
