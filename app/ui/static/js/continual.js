// ACC, BWT and average forgetting of an accuracy matrix, as app/continual_metrics.py
// computes them (R[i][j]: accuracy on chunk j after the update on chunk i; null where
// chunk j had no eval split). The figures after version k are those of R's first k rows.

const mean = (values) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);
const known = (v) => v !== null && v !== undefined;

export function averageAccuracy(matrix) {
  if (!matrix.length) return null;
  return mean(matrix[matrix.length - 1].filter(known));
}

export function backwardTransfer(matrix) {
  if (matrix.length < 2) return null;
  const last = matrix[matrix.length - 1];
  const terms = [];
  for (let j = 0; j < matrix.length - 1; j += 1) {
    if (known(last[j]) && known(matrix[j][j])) terms.push(last[j] - matrix[j][j]);
  }
  return mean(terms);
}

export function forgetting(matrix) {
  if (matrix.length < 2) return null;
  const last = matrix[matrix.length - 1];
  const terms = [];
  for (let j = 0; j < matrix.length - 1; j += 1) {
    const earlier = [];
    for (let row = j; row < matrix.length - 1; row += 1) {
      if (known(matrix[row][j])) earlier.push(matrix[row][j]);
    }
    if (earlier.length && known(last[j])) terms.push(Math.max(...earlier) - last[j]);
  }
  return mean(terms);
}

// One point per version 1..T: {version, acc, forgetting, bwt}.
export function perVersion(matrix) {
  return matrix.map((_, i) => {
    const prefix = matrix.slice(0, i + 1);
    return {
      version: i + 1,
      acc: averageAccuracy(prefix),
      forgetting: forgetting(prefix),
      bwt: backwardTransfer(prefix),
    };
  });
}
