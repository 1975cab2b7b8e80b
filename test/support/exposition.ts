/** The Prometheus text exposition format as the tests read it, and a plain HTTP GET of an observability endpoint. */

/** Parses the text exposition format: `name{labels} value` lines into a lookup; checks HELP/TYPE come first. */
export function parseExposition(text: string): { value(name: string, labels?: Record<string, string>): number | undefined; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const typed = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (typed) {
      types.set(typed[1]!, typed[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const [, name, labelText = '', raw] = match;
    const family = [...types.keys()].find((t) => name === t || name!.startsWith(`${t}_`));
    if (!family) throw new Error(`sample ${name} before its TYPE line`);
    const labels = [...labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!] as const);
    samples.set(key(name!, Object.fromEntries(labels)), raw === '+Inf' ? Infinity : Number(raw));
  }
  return { value: (name, labels = {}) => samples.get(key(name, labels)), types };
}

function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}}`;
}

export async function scrape(port: number, path: string): Promise<{ status: number; body: string; type: string | null }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text(), type: response.headers.get('content-type') };
}
