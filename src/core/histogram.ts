/**
 * Quantiles of bucketed latency histograms. The agent's figures, the builtin metric provider,
 * the judge and the status view all estimate them here, so they agree with each other and with
 * a Prometheus query over the same buckets.
 */

/**
 * Estimates quantile `q` from cumulative bucket counts the way PromQL's `histogram_quantile`
 * does: find the bucket holding rank `q * total` and interpolate linearly inside it; a rank
 * in the +Inf bucket yields the highest finite bound. `cumulative` has one entry per bound
 * plus the +Inf entry.
 *
 * @example
 * histogramQuantile(0.5, [0.1, 1], [0, 10, 10]); // 0.55
 */
export function histogramQuantile(q: number, bounds: readonly number[], cumulative: ArrayLike<number>): number {
  const total = cumulative[cumulative.length - 1]!;
  if (total <= 0 || bounds.length === 0) return 0;
  if (q <= 0) return 0;
  if (q >= 1) return bounds[bounds.length - 1]!;
  const rank = q * total;
  let b = 0;
  while (b < bounds.length && cumulative[b]! < rank) b++;
  if (b === bounds.length) return bounds[bounds.length - 1]!;
  const start = b === 0 ? 0 : bounds[b - 1]!;
  const before = b === 0 ? 0 : cumulative[b - 1]!;
  const inBucket = cumulative[b]! - before;
  return start + (bounds[b]! - start) * ((rank - before) / inBucket);
}

/**
 * {@link histogramQuantile} over per-bucket counts (not cumulative), as request windows hold them.
 *
 * @example
 * bucketQuantile(0.5, [0.1, 1], [0, 10, 0]); // 0.55
 */
export function bucketQuantile(q: number, bounds: readonly number[], buckets: ArrayLike<number>): number {
  const cumulative: number[] = [];
  let sum = 0;
  for (let i = 0; i < buckets.length; i++) cumulative.push((sum += buckets[i]!));
  return histogramQuantile(q, bounds, cumulative);
}
