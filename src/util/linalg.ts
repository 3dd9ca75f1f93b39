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

/**
 * The top principal directions (unit vectors in the row space) of a few centred rows, by power
 * iteration on their small Gram matrix — cheap when there are far fewer rows than dimensions.
 */
export function principalDirections(rows: Float64Array[], count: number): Float64Array[] {
  const n = rows.length;
  const d = rows[0].length;
  const gram = rows.map((a) => rows.map((b) => a.reduce((s, v, j) => s + v * b[j], 0)));
  const found: Float64Array[] = [];
  for (let c = 0; c < count; c++) {
    let u = Float64Array.from({ length: n }, (_, i) => 1 + i * 0.37);
    for (let it = 0; it < 500; it++) {
      const next = Float64Array.from({ length: n }, (_, i) => gram[i].reduce((s, g, j) => s + g * u[j], 0));
      // deflate the directions already found
      for (const prev of found) {
        const coeffs = rows.map((r) => r.reduce((s, v, j) => s + v * prev[j], 0));
        const dot = coeffs.reduce((s, v, i) => s + v * next[i], 0);
        const norm = coeffs.reduce((s, v) => s + v * v, 0) || 1;
        for (let i = 0; i < n; i++) next[i] -= (dot / norm) * coeffs[i];
      }
      const len = Math.hypot(...next) || 1;
      u = next.map((v) => v / len);
    }
    const dir = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) dir[j] += u[i] * rows[i][j];
    for (const prev of found) {
      const dot = dir.reduce((s, v, j) => s + v * prev[j], 0);
      for (let j = 0; j < d; j++) dir[j] -= dot * prev[j];
    }
    const len = Math.hypot(...dir) || 1;
    found.push(dir.map((v) => v / len));
  }
  return found;
}


/** Cholesky factor L (lower, row-major) of a symmetric positive definite matrix: A = L·Lᵀ. */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 0)) throw new Error('matrix is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

/** Eigenvectors of the `count` largest eigenvalues of a symmetric matrix (power iteration with deflation). */
export function topEigenvectors(a: ArrayLike<number>, n: number, count: number): Float64Array[] {
  const m = Float64Array.from(a as ArrayLike<number>);
  const found: Float64Array[] = [];
  for (let c = 0; c < count; c++) {
    let u = Float64Array.from({ length: n }, (_, i) => 1 + 0.31 * Math.sin(i + c));
    for (let it = 0; it < 1000; it++) {
      const next = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) next[i] += m[i * n + j] * u[j];
      for (const prev of found) {
        const d = prev.reduce((s, v, i) => s + v * next[i], 0);
        for (let i = 0; i < n; i++) next[i] -= d * prev[i];
      }
      const len = Math.hypot(...next) || 1;
      const moved = next.reduce((s, v, i) => s + Math.abs(v / len - u[i]), 0);
      u = next.map((v) => v / len);
      if (moved < 1e-12 * n) break;
    }
    found.push(u);
  }
  return found;
}

/**
 * All eigenvalues and eigenvectors of a symmetric matrix by cyclic Jacobi rotations (exact to
 * rounding, O(n³) per sweep; fine for the few-hundred-dimensional feature covariances of the OoD
 * detectors). Eigenvalues in descending order; vectors[k] is the unit eigenvector of values[k].
 */
export function symmetricEigen(a: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array[] } {
  const m = Float64Array.from(a as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const offDiagonal = () => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += m[i * n + j] ** 2;
    return s;
  };
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] ** 2;
  for (let sweep = 0; sweep < 100 && offDiagonal() > 1e-24 * (scale || 1); sweep++) {
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        // the rotation that zeroes m[p][q]
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p];
          const mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k];
          const mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i]);
  return {
    values: Float64Array.from(order, (i) => m[i * n + i]),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i])),
  };
}
