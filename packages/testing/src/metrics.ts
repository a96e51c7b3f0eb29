/**
 * The value of one sample in Prometheus text format: `name` exactly, with `labels` when given
 * (`{a="b"}` as written by the exporter). Undefined when the sample is absent.
 */
export function metricValue(text: string, name: string, labels = ''): number | undefined {
  const prefix = `${name}${labels} `
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length).trim().split(' ')[0])
  }
  return undefined
}
