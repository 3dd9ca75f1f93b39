/** The attributes tfjs passes to its 2-D convolution kernels, and their geometry. */
import { backend_util } from '@tensorflow/tfjs-core';

export type ConvAttrs = {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Conv2DBackpropFilter: shape of the filter gradient */
  filterShape?: [number, number, number, number];
  /** Conv2DBackpropInput: shape of the input gradient */
  inputShape?: [number, number, number, number];
};

/** Output size, padding, strides and dilations of an NHWC convolution (throws for NCHW). */
export function convInfoFor(xShape: number[], filterShape: number[], attrs: ConvAttrs): backend_util.Conv2DInfo {
  if (attrs.dataFormat === 'NCHW') throw new Error('trustgc engine: only NHWC convolutions are supported');
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}
