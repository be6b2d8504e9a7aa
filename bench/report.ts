/** One benchmark figure, printed as one JSON line on stdout. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** What the same run measured for the baseline (same unit). */
  readonly baseline: number;
  /** value / baseline. */
  readonly ratio: number;
}

export function report(name: string, value: number, unit: string, baseline: number): Figure {
  const figure = {
    name,
    value: Math.round(value),
    unit,
    baseline: Math.round(baseline),
    ratio: Math.round((value / baseline) * 1000) / 1000,
  };
  process.stdout.write(`${JSON.stringify(figure)}\n`);
  return figure;
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}
