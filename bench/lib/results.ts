/** What a scenario reports: figures per repetition, what it verified, and what went wrong. */

export interface Figure {
  label: string;
  unit: string;
  /** One value per repetition. */
  values: number[];
  better: 'higher' | 'lower';
  /** The original (Go, Goka) service's figure from issue 7, same unit. */
  original?: number;
  /** The raw kafkajs figure on the same broker, measured in this run, same unit. */
  ceiling?: number;
  /** The goal of issue 7: at least (higher is better) or at most (lower is better). */
  goal?: number;
  /** Shown but not compared (context such as the prefill's own rate). */
  info?: boolean;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** The shape of the load, as run (N, wallets, connections, duration…). */
  shape: string;
  figures: Figure[];
  /** What was checked, in words, with the outcome of each repetition. */
  checks: string[];
  /** Correctness failures: any one fails the bench. */
  failures: string[];
  /** Extra markdown (e.g. the rate in slices). */
  details?: string[];
  notes?: string[];
}

export function newResult(id: string, title: string, shape: string): ScenarioResult {
  return { id, title, shape, figures: [], checks: [], failures: [], details: [], notes: [] };
}

/** Adds a repetition's value to the figure named `label`, creating it on first use. */
export function record(result: ScenarioResult, figure: Omit<Figure, 'values'>, value: number): void {
  let found = result.figures.find((candidate) => candidate.label === figure.label);
  if (!found) {
    found = { ...figure, values: [] };
    result.figures.push(found);
  }
  found.values.push(value);
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** How many times better than `other` a value is (> 1: better), by the figure's direction. */
export function factor(figure: Figure, value: number, other: number): number {
  return figure.better === 'higher' ? value / other : other / value;
}

/** Whether a value meets the figure's goal. */
export function meetsGoal(figure: Figure, value: number): boolean | undefined {
  if (figure.goal === undefined) return undefined;
  return figure.better === 'higher' ? value >= figure.goal : value <= figure.goal;
}

/** Percentile (0–100) of unsorted samples, nearest rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Cumulative counts by bucket bound (`le`) of one series of a histogram in a /metrics text: the series whose labels include `labels`. */
export function histogramBuckets(text: string, name: string, labels: Record<string, string>): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const labelText = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const found = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).some(([key, value]) => found[key] !== value)) continue;
    buckets.set(found.le === '+Inf' ? Infinity : Number(found.le), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/**
 * The q-quantile (0-1) of what a histogram counted between two scrapes, interpolated within its
 * bucket as Prometheus's histogram_quantile does: as precise as the buckets are.
 */
export function histogramQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counted = (bound: number) => (after.get(bound) ?? 0) - (before.get(bound) ?? 0);
  const total = counted(Infinity);
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bound of bounds) {
    const upTo = counted(bound);
    if (upTo >= rank) return bound === Infinity ? lower : lower + ((bound - lower) * (rank - below)) / Math.max(1, upTo - below);
    lower = bound;
    below = upTo;
  }
  return NaN;
}
