/** Dense float64 linear algebra for small fixed matrices (row-major). */

/** log|det A| by LU decomposition with partial pivoting; -Infinity for a singular matrix. */
export function logAbsDet(a: ArrayLike<number>, n: number): number {
  const m = Float64Array.from(a as ArrayLike<number>);
  let logdet = 0;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]) > Math.abs(m[p * n + k])) p = i;
    const pivot = m[p * n + k];
    if (pivot === 0) return -Infinity;
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = m[k * n + j];
        m[k * n + j] = m[p * n + j];
        m[p * n + j] = t;
      }
    }
    logdet += Math.log(Math.abs(pivot));
    for (let i = k + 1; i < n; i++) {
      const f = m[i * n + k] / pivot;
      if (f === 0) continue;
      for (let j = k; j < n; j++) m[i * n + j] -= f * m[k * n + j];
    }
  }
  return logdet;
}

/** A⁻¹ by Gauss–Jordan elimination with partial pivoting. */
export function invert(a: ArrayLike<number>, n: number): Float64Array {
  const m = Float64Array.from(a as ArrayLike<number>);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(m[i * n + k]) > Math.abs(m[p * n + k])) p = i;
    if (m[p * n + k] === 0) throw new Error('matrix is singular');
    for (let j = 0; j < n; j++) {
      [m[k * n + j], m[p * n + j]] = [m[p * n + j], m[k * n + j]];
      [inv[k * n + j], inv[p * n + j]] = [inv[p * n + j], inv[k * n + j]];
    }
    const pivot = m[k * n + k];
    for (let j = 0; j < n; j++) {
      m[k * n + j] /= pivot;
      inv[k * n + j] /= pivot;
    }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = m[i * n + k];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[i * n + j] -= f * m[k * n + j];
        inv[i * n + j] -= f * inv[k * n + j];
      }
    }
  }
  return inv;
}

/** Kronecker product of two n×n matrices → n²×n², (A⊗B)[(i,k),(j,l)] = A[i,j]·B[k,l]. */
export function kron(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const n2 = n * n;
  const out = new Float64Array(n2 * n2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      for (let k = 0; k < n; k++)
        for (let l = 0; l < n; l++) out[(i * n + k) * n2 + (j * n + l)] = a[i * n + j] * b[k * n + l];
  return out;
}
