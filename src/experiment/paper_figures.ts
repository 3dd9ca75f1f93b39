/**
 * The paper's ImageNet figures the β-sweep report sets ours beside (Mackowiak et al., Tables 3, 4,
 * 5 and 8 and the receptive-field text of §4.2), keyed by β ("inf" = ∞, "RN" = the ResNet-50).
 */
export interface PaperFigures {
  table3: Record<string, { lx: number | null; ly: number | null; bitsPerDim: number | null; accuracy: number | null }>;
  table4: Record<string, { ece: number; mce: number; oce: number }>;
  table5: Record<string, { cleanError: number | null; mCE: number | null; relativeMCE: number | null; deltaEntropy: number | null; ood: number | null }>;
  /** Table 8 (κ = 1), d = 0 columns; at d = 0 the paper gives only the one-tailed test's AUROC ("1t-tt") */
  table8: Record<string, { confidence: number; corruption: number; success: number; oodOneTailed: number | null; oodTwoTailed: number | null }>;
  receptiveField: string;
}

export const PAPER: PaperFigures = {
  table3: {
    '0': { lx: -3.11, ly: null, bitsPerDim: 2.59, accuracy: null },
    '1': { lx: -1.9, ly: 8.52, bitsPerDim: 4.34, accuracy: 67.3 },
    '2': { lx: -0.65, ly: 8.26, bitsPerDim: 6.14, accuracy: 71.73 },
    '4': { lx: 1.14, ly: 8.14, bitsPerDim: 8.72, accuracy: 73.69 },
    '8': { lx: 3.66, ly: 8.1, bitsPerDim: 12.35, accuracy: 74.59 },
    '16': { lx: 7.17, ly: 8.06, bitsPerDim: 17.43, accuracy: 75.54 },
    '32': { lx: 10.81, ly: 8.01, bitsPerDim: 22.68, accuracy: 76.18 },
    inf: { lx: 27.68, ly: 7.99, bitsPerDim: 47.01, accuracy: 76.27 },
    RN: { lx: null, ly: 7.87, bitsPerDim: null, accuracy: 77.4 },
  },
  // the paper's Table 4 header lists β = 1, 2, 4 and four more columns before the ResNet; we read them as 1, 2, 4, 8, 16, 32, ∞
  table4: {
    '1': { ece: 0.16, mce: 5.54, oce: 3.87 },
    '2': { ece: 0.16, mce: 3.13, oce: 4.13 },
    '4': { ece: 0.16, mce: 5.47, oce: 4.31 },
    '8': { ece: 0.17, mce: 4.57, oce: 4.73 },
    '16': { ece: 0.16, mce: 5.5, oce: 4.15 },
    '32': { ece: 0.17, mce: 5.28, oce: 4.94 },
    inf: { ece: 0.17, mce: 5.1, oce: 5.12 },
    RN: { ece: 0.17, mce: 7.72, oce: 6.75 },
  },
  table5: {
    '0': { cleanError: null, mCE: null, relativeMCE: null, deltaEntropy: null, ood: 77.51 },
    '1': { cleanError: 32.7, mCE: 98.5, relativeMCE: 116, deltaEntropy: 1.62, ood: 67.9 },
    '2': { cleanError: 28.27, mCE: 92.5, relativeMCE: 119, deltaEntropy: 1.75, ood: 73.6 },
    '4': { cleanError: 26.31, mCE: 88.2, relativeMCE: 117, deltaEntropy: 1.72, ood: 70.84 },
    '8': { cleanError: 25.41, mCE: 86.8, relativeMCE: 117, deltaEntropy: 1.81, ood: 65.85 },
    '16': { cleanError: 24.46, mCE: 84.9, relativeMCE: 115, deltaEntropy: 1.79, ood: 62.43 },
    '32': { cleanError: 23.82, mCE: 83.1, relativeMCE: 113, deltaEntropy: 1.71, ood: 55.83 },
    inf: { cleanError: 23.73, mCE: 83.4, relativeMCE: 114, deltaEntropy: 1.58, ood: 44.24 },
    RN: { cleanError: 22.6, mCE: 78.2, relativeMCE: 109, deltaEntropy: 1.51, ood: null },
  },
  table8: {
    '0': { confidence: 91.5, corruption: 0.032, success: 91, oodOneTailed: 99.5, oodTwoTailed: null },
    '1': { confidence: 100, corruption: 0.015, success: 100, oodOneTailed: 94.26, oodTwoTailed: null },
    '2': { confidence: 99.99, corruption: 0.014, success: 100, oodOneTailed: 80.22, oodTwoTailed: null },
    '4': { confidence: 98.0, corruption: 0.011, success: 100, oodOneTailed: 48.98, oodTwoTailed: null },
    '8': { confidence: 80.15, corruption: 0.009, success: 100, oodOneTailed: 63.98, oodTwoTailed: null },
    '16': { confidence: 77.24, corruption: 0.009, success: 100, oodOneTailed: 70.99, oodTwoTailed: null },
    '32': { confidence: 73.09, corruption: 0.008, success: 100, oodOneTailed: 77.79, oodTwoTailed: null },
    inf: { confidence: 76.91, corruption: 0.007, success: 100, oodOneTailed: 59.09, oodTwoTailed: null },
    RN: { confidence: 83.8, corruption: 0.08 /* as printed; Table 7 has 0.008 */, success: 100, oodOneTailed: null, oodTwoTailed: null },
  },
  receptiveField: 'for β ≤ 4 the FWHM of the sensitivity is only 64 px (what the six downsamplings alone give); for higher β it approaches a ResNet\'s',
};
