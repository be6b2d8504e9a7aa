/**
 * Counters and histograms kept as plain numbers and rendered in the Prometheus text exposition
 * format 0.0.4. Cells are looked up once per label set and kept by the caller, so recording a
 * request is a few additions.
 */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface CounterCell {
  value: number;
}

export interface HistogramCell {
  /** Non-cumulative counts per bucket; the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

interface FamilyBase {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
}

export class CounterFamily {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #cells = new Map<string, CounterCell>();

  constructor(base: FamilyBase) {
    this.name = base.name;
    this.help = base.help;
    this.labelNames = base.labelNames;
  }

  cell(labelValues: readonly string[]): CounterCell {
    const key = renderLabels(this.labelNames, labelValues);
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { value: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }

  render(lines: string[]): void {
    if (this.#cells.size === 0) return;
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const [labels, cell] of this.#cells) lines.push(`${this.name}{${labels}} ${cell.value}`);
  }
}

export class HistogramFamily {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** Upper bounds, ascending, without +Inf. */
  readonly buckets: readonly number[];
  readonly #cells = new Map<string, HistogramCell>();

  constructor(base: FamilyBase & { readonly buckets: readonly number[] }) {
    this.name = base.name;
    this.help = base.help;
    this.labelNames = base.labelNames;
    this.buckets = base.buckets;
  }

  cell(labelValues: readonly string[]): HistogramCell {
    const key = renderLabels(this.labelNames, labelValues);
    let cell = this.#cells.get(key);
    if (cell === undefined) {
      cell = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.#cells.set(key, cell);
    }
    return cell;
  }

  observe(cell: HistogramCell, value: number): void {
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && value > (buckets[i] as number)) i++;
    cell.counts[i] = (cell.counts[i] as number) + 1;
    cell.sum += value;
    cell.count += 1;
  }

  render(lines: string[]): void {
    if (this.#cells.size === 0) return;
    lines.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const [labels, cell] of this.#cells) {
      const prefix = labels === '' ? '' : `${labels},`;
      let cumulative = 0;
      for (const [i, bound] of this.buckets.entries()) {
        cumulative += cell.counts[i] as number;
        lines.push(`${this.name}_bucket{${prefix}le="${bound}"} ${cumulative}`);
      }
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${cell.count}`);
      lines.push(`${this.name}_sum{${labels}} ${cell.sum}`);
      lines.push(`${this.name}_count{${labels}} ${cell.count}`);
    }
  }
}

export type MetricFamily = CounterFamily | HistogramFamily;

/** Families rendered together, in registration order. */
export class MetricsRegistry {
  readonly #families: MetricFamily[] = [];

  add<F extends MetricFamily>(family: F): F {
    this.#families.push(family);
    return family;
  }

  render(): string {
    const lines: string[] = [];
    for (const family of this.#families) family.render(lines);
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length !== values.length) {
    throw new Error(`expected ${names.length} label values, got ${values.length}`);
  }
  return names.map((name, i) => `${name}="${escapeLabelValue(values[i] as string)}"`).join(',');
}
