// Line charts as inline SVG, built with DOM calls (no library, nothing parsed as markup).
const svgNs = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  return el;
}

/**
 * A chart of `series` ([{ key, label, className }]) over `buckets` ([{ at, [key]: n }]), one line per
 * series; `label(at)` names a bucket on the time axis. Its accessible name says the totals.
 */
export function lineChart(title, buckets, series, label) {
  const width = 600;
  const height = 140;
  const pad = { left: 36, right: 8, top: 8, bottom: 20 };
  const max = Math.max(1, ...buckets.flatMap((b) => series.map((line) => b[line.key])));
  const px = (i) => pad.left + (buckets.length < 2 ? 0 : (i * (width - pad.left - pad.right)) / (buckets.length - 1));
  const py = (v) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const totals = series.map((x) => `${x.label} ${buckets.reduce((n, b) => n + b[x.key], 0)}`).join(', ');
  const svg = s(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': `${title}: ${totals}` },
    s('title', {}, `${title}: ${totals}`),
    s('line', { x1: pad.left, y1: py(0), x2: width - pad.right, y2: py(0), class: 'axis' }),
    s('text', { x: pad.left - 4, y: py(max) + 4, 'text-anchor': 'end', class: 'tick' }, String(max)),
    s('text', { x: pad.left - 4, y: py(0), 'text-anchor': 'end', class: 'tick' }, '0'),
    buckets.length ? s('text', { x: pad.left, y: height - 4, class: 'tick' }, label(buckets[0].at)) : s('g'),
    buckets.length ? s('text', { x: width - pad.right, y: height - 4, 'text-anchor': 'end', class: 'tick' }, label(buckets[buckets.length - 1].at)) : s('g'),
    ...series.map((x) => s('polyline', { points: buckets.map((b, i) => `${px(i)},${py(b[x.key])}`).join(' '), class: `line ${x.className}`, 'data-series': x.key })),
  );
  const legend = document.createElement('p');
  legend.className = 'legend';
  for (const x of series) {
    const item = document.createElement('span');
    item.className = `key ${x.className}`;
    item.textContent = x.label;
    legend.appendChild(item);
  }
  const figure = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(caption, svg, legend);
  return figure;
}
