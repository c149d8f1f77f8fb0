import type { Registry } from 'prom-client';

/**
 * Counter and histogram families for the request path, exported through prom-client's
 * Registry (same exposition text, same cluster-mode aggregation) but recorded without it.
 *
 * prom-client hashes and validates the label set on every `inc()` / `observe()`, even on a
 * child from `labels()`: a few microseconds a request across the request metrics. Here a child
 * is a plain object bound to its label values once (when the route table is built); recording
 * is a field update, and the label set is formatted only at scrape time. Registered with
 * `registry.registerMetric`, which takes any object with prom-client's `get()` shape.
 *
 * A child that was never recorded (nor `touch()`ed) exports no series, like a prom-client
 * child that was bound but never used.
 */
interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

abstract class PreparedFamily<Child extends { used: boolean; labelValues: readonly string[] }> {
  readonly aggregator = 'sum' as const;
  protected readonly children = new Map<string, Child>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  abstract readonly type: 'counter' | 'histogram';
  protected abstract create(labelValues: readonly string[]): Child;
  protected abstract valuesOf(child: Child, labels: Record<string, string>, out: MetricValue[]): void;

  /** Series a family exports besides its recorded children (none by default). */
  protected moreValues(_out: MetricValue[]): void {}

  /** The child for these label values (one per distinct set; call off the hot path). */
  labels(...labelValues: string[]): Child {
    if (labelValues.length !== this.labelNames.length) throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${labelValues.length}`);
    const key = labelValues.join('\u0000');
    let child = this.children.get(key);
    if (child === undefined) {
      child = this.create(labelValues);
      this.children.set(key, child);
    }
    return child;
  }

  /** Every child recorded so far (for readers on a timer, such as the status page's history). */
  recorded(): IterableIterator<Child> {
    return this.children.values();
  }

  /** prom-client's metric interface: the current values, read at scrape time. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const child of this.children.values()) {
      if (!child.used) continue;
      const labels: Record<string, string> = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = child.labelValues[i]!;
      this.valuesOf(child, labels, values);
    }
    this.moreValues(values);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.children.clear();
  }
}

/** A counter child: `inc()` adds to a number. */
export class CounterChild {
  value = 0;
  used = false;
  constructor(readonly labelValues: readonly string[]) {}

  inc(amount = 1): void {
    this.value += amount;
    this.used = true;
  }

  /** Exports the series at its current value (0 before any event), so rate() sees it from the start. */
  touch(): void {
    this.used = true;
  }
}

export class PreparedCounter extends PreparedFamily<CounterChild> {
  readonly type = 'counter' as const;
  private zeroSource: (() => Iterable<string>) | null = null;

  /**
   * For a family with one label: every value `source` yields at scrape time is exported, at 0
   * until its child records, as if each had a touched child — without a child per value until
   * it is used (e.g. every known service, thousands of them, most of which never count an
   * error).
   */
  exportZeroFor(source: () => Iterable<string>): void {
    if (this.labelNames.length !== 1) throw new Error(`${this.name}: exportZeroFor needs a family with one label, it has ${this.labelNames.length}`);
    this.zeroSource = source;
  }

  protected override moreValues(out: MetricValue[]): void {
    if (this.zeroSource === null) return;
    const label = this.labelNames[0]!;
    for (const value of this.zeroSource()) {
      if (this.children.get(value)?.used === true) continue;
      out.push({ value: 0, labels: { [label]: value } });
    }
  }

  protected create(labelValues: readonly string[]): CounterChild {
    return new CounterChild(labelValues);
  }

  protected valuesOf(child: CounterChild, labels: Record<string, string>, out: MetricValue[]): void {
    out.push({ value: child.value, labels });
  }
}

/** A histogram child: per-bucket counts (not cumulative until scraped), sum and count. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  used = false;

  constructor(
    readonly labelValues: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
    this.used = true;
  }
}

export class PreparedHistogram extends PreparedFamily<HistogramChild> {
  readonly type = 'histogram' as const;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
  }

  protected create(labelValues: readonly string[]): HistogramChild {
    return new HistogramChild(labelValues, this.buckets);
  }

  protected valuesOf(child: HistogramChild, labels: Record<string, string>, out: MetricValue[]): void {
    let cumulative = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cumulative += child.counts[i]!;
      out.push({ value: cumulative, labels: { ...labels, le: this.buckets[i]! }, metricName: `${this.name}_bucket` });
    }
    out.push({ value: child.count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
    out.push({ value: child.sum, labels, metricName: `${this.name}_sum` });
    out.push({ value: child.count, labels, metricName: `${this.name}_count` });
  }
}
