// A pipeline's stages as a graph: an inline SVG drawn with DOM calls (no library, no inline script)
// and, for keyboards and screen readers, the same graph as an ordered list with the stages' jobs.
// Stages sit left to right in declaration order; a transition forward to the next stage is a
// straight arrow, a longer one (or to a terminal state) an arc above, and a loop back an arc below
// labelled with the loops it took and its budget's loops left.
import { h, statusBadge } from '../dom.js';

const svgNs = 'http://www.w3.org/2000/svg';
const nodeW = 140;
const nodeH = 56;
const gap = 64;
const top = 76;
const margin = 16;
const maxName = 18;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  for (const child of children) {
    if (child === null || child === undefined) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function clip(text) {
  return text.length > maxName ? `${text.slice(0, maxName - 1)}…` : text;
}

/** One line for an edge: what it does and how often it was taken. */
export function edgeText(edge) {
  const when = edge.route ? `when ${edge.on} (route ${edge.route})` : `when ${edge.on}`;
  const taken = `taken ${edge.taken}×`;
  if (edge.kind === 'loop') {
    const budget = edge.budget ? `; budget ${edge.budget.name}: ${edge.budget.used} of ${edge.budget.max} loops used, ${edge.budget.left} left` : '';
    return `↺ back to ${edge.to} ${when}: ${taken}${budget}`;
  }
  if (edge.kind === 'end') return `→ ends ${edge.to}${edge.end && edge.end !== edge.to ? ` (${edge.end})` : ''} ${when}: ${taken}`;
  return `→ ${edge.to} ${when}: ${taken}`;
}

/** The label an edge carries on the drawing (short: the list has the whole sentence). */
function edgeLabel(edge) {
  if (edge.kind === 'loop') return `↺ ${edge.taken} taken${edge.budget ? ` · ${edge.budget.left} left of ${edge.budget.max}` : ''}`;
  return edge.taken ? `×${edge.taken}` : '';
}

function drawing(graph) {
  const positions = new Map();
  const columns = [...graph.stages.map((st) => st.stage), ...graph.ends];
  columns.forEach((name, i) => positions.set(name, margin + i * (nodeW + gap)));
  const hasLoops = graph.edges.some((e) => e.kind === 'loop');
  const width = margin * 2 + columns.length * nodeW + (columns.length - 1) * gap;
  const height = top + nodeH + (hasLoops ? 76 : 24);
  const title = s('title', { id: 'stage-graph-title' }, `Stages of the pipeline: ${graph.stages.map((st) => `${st.stage} (${st.visits} visits)`).join(', ')}`);
  const svg = s('svg', { class: 'graph', viewBox: `0 0 ${width} ${height}`, width, role: 'img', 'aria-labelledby': 'stage-graph-title' }, title);
  svg.appendChild(
    s('defs', {}, s('marker', { id: 'jl-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'g-head' }))),
  );

  const edgeLayer = s('g', { class: 'g-edges' });
  let above = 0;
  for (const edge of graph.edges) {
    const x1 = positions.get(edge.from);
    const x2 = positions.get(edge.to);
    if (x1 === undefined || x2 === undefined) continue;
    const classes = ['g-edge', `e-${edge.kind}`, edge.taken ? 'g-taken' : 'g-untaken'].join(' ');
    const group = s('g', { class: classes, 'data-from': edge.from, 'data-to': edge.to, 'data-on': edge.on, 'data-kind': edge.kind });
    let d;
    let lx;
    let ly;
    if (edge.kind === 'loop') {
      // Below the row: from the bottom of `from` back to the bottom of `to` (a stage looping to itself: a small hook).
      const a = x1 + nodeW / 2 + 10;
      const b = x2 + nodeW / 2 - 10;
      const depth = 28 + Math.min(36, Math.abs(a - b) / 8);
      const y = top + nodeH;
      d = `M${a},${y} C${a},${y + depth} ${b},${y + depth} ${b},${y + 2}`;
      lx = (a + b) / 2;
      ly = y + depth + 10;
    } else if (x2 - x1 === nodeW + gap) {
      const y = top + nodeH / 2 + (edge.on === 'completed' ? -8 : 8);
      d = `M${x1 + nodeW},${y} L${x2 - 2},${y}`;
      lx = x1 + nodeW + gap / 2;
      ly = y - 4;
    } else {
      // Above the row: farther targets arc higher; stacked a little so labels do not sit on each other.
      above += 1;
      const a = x1 + nodeW / 2 + (edge.on === 'failed' ? 12 : -12);
      const b = x2 + nodeW / 2;
      const rise = Math.min(top - 14, 24 + ((above % 4) * 10) + Math.abs(b - a) / 20);
      d = `M${a},${top} C${a},${top - rise} ${b},${top - rise} ${b},${top - 2}`;
      lx = (a + b) / 2;
      ly = top - rise * 0.75 - 3;
    }
    group.appendChild(s('path', { d, 'marker-end': 'url(#jl-arrow)' }));
    const label = edgeLabel(edge);
    if (label) group.appendChild(s('text', { x: lx, y: ly, 'text-anchor': 'middle', class: 'g-label' }, label));
    group.appendChild(s('title', {}, `${edge.from} ${edgeText(edge)}`));
    edgeLayer.appendChild(group);
  }
  svg.appendChild(edgeLayer);

  for (const stage of graph.stages) {
    const x = positions.get(stage.stage);
    svg.appendChild(
      s(
        'g',
        { class: `g-node${stage.current ? ' g-current' : ''}${stage.visits ? '' : ' g-unvisited'}`, 'data-stage': stage.stage },
        s('title', {}, `${stage.stage}: ${stage.visits} visits${stage.current ? ', running now' : ''}`),
        s('rect', { x, y: top, width: nodeW, height: nodeH, rx: 6 }),
        s('text', { x: x + nodeW / 2, y: top + 22, 'text-anchor': 'middle', class: 'g-name' }, clip(stage.stage)),
        s('text', { x: x + nodeW / 2, y: top + 42, 'text-anchor': 'middle', class: 'g-visits' }, `${stage.visits} visit${stage.visits === 1 ? '' : 's'}${stage.current ? ' · now' : ''}`),
      ),
    );
  }
  for (const end of graph.ends) {
    const x = positions.get(end);
    svg.appendChild(
      s(
        'g',
        { class: 'g-end', 'data-end': end },
        s('rect', { x, y: top + 8, width: nodeW, height: nodeH - 16, rx: 20 }),
        s('text', { x: x + nodeW / 2, y: top + nodeH / 2 + 4, 'text-anchor': 'middle', class: 'g-name' }, clip(end)),
      ),
    );
  }
  return svg;
}

/** The graph's section: the drawing (scrolls sideways when wider than the screen) and the list. */
export function stageGraph(app, graph) {
  const list = h(
    'ol',
    { id: 'stage-graph-list', class: 'graph-list' },
    graph.stages.map((stage) =>
      h(
        'li',
        { 'data-stage': stage.stage },
        h('strong', {}, stage.stage),
        ` — ${stage.visits} visit${stage.visits === 1 ? '' : 's'}${stage.current ? ' (running now)' : ''}`,
        stage.jobs.length
          ? h('ul', { class: 'stage-jobs', 'aria-label': `Jobs of stage ${stage.stage}` }, stage.jobs.map((job) => h('li', {}, `visit ${job.visit}: `, h('a', { href: app.href(`/jobs/${encodeURIComponent(job.jobId)}`), 'data-nav': true }, job.jobId), ' ', statusBadge(job.outcome))))
          : null,
        h('ul', { class: 'stage-edges', 'aria-label': `Transitions from ${stage.stage}` }, graph.edges.filter((e) => e.from === stage.stage).map((e) => h('li', { class: e.kind === 'loop' ? 'loop-edge' : null, 'data-to': e.to, 'data-on': e.on }, edgeText(e)))),
      ),
    ),
  );
  return [
    h('h2', {}, 'Stage graph'),
    h(
      'figure',
      { class: 'graph-figure' },
      h('div', { class: 'graph-scroll', tabindex: 0, role: 'group', 'aria-label': 'Stage graph drawing (scrolls sideways)' }, drawing(graph)),
      h('figcaption', {}, graph.fromDefinition ? 'Stages as defined, with the transitions this pipeline took; dashed: not taken.' : 'Stages and transitions this pipeline took (this console does not register its definition, so transitions not taken are not shown).'),
    ),
    list,
  ];
}
