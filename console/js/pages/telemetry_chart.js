// Telemetry charts of one device: a metric chooser (the metrics seen in its
// rows), a range chooser (last hour live, 24 h, 7 d, 30 d) and one uPlot
// chart per numeric field of the payload (small multiples: fields have
// unrelated units, e.g. co2_ppm ~1000 beside temp_c ~20, so one shared axis
// would flatten most lines). Ranges over 24 h read the hourly aggregates
// (the avg line, with min and max), shorter ones the raw rows; the live
// range appends the device's telemetry events as they come.

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { api, query } from '../api.js';
import { subscribe } from '../events.js';
import { h, replace, problemMessage, field } from '../ui.js';

const HOUR_S = 3600;
const RANGES = [
  { key: '1h', label: 'Last hour (live)', seconds: HOUR_S, live: true },
  { key: '24h', label: '24 hours', seconds: 24 * HOUR_S },
  { key: '7d', label: '7 days', seconds: 7 * 24 * HOUR_S },
  { key: '30d', label: '30 days', seconds: 30 * 24 * HOUR_S },
];
// Raw rows asked for at most; a 24 h range of a device sending every second
// would be 86,400, more than a chart can show apart anyway.
const RAW_LIMIT = 20000;
const CHART_HEIGHT = 160;
const MIN_CHART_WIDTH = 240;
// Metrics that are not measurements: diagnostics answers are shown as JSON.
const HIDDEN_METRICS = new Set(['diag']);

// The numeric top-level fields of a payload; booleans count as 0/1 (presence).
export function numericFields(payload) {
  const out = {};
  if (!payload || typeof payload !== 'object') return out;
  for (const [k, v] of Object.entries(payload)) {
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
    else if (typeof v === 'boolean') out[k] = v ? 1 : 0;
  }
  return out;
}

// Raw rows -> { times: [s], fields: { name: [values|null] } }.
export function seriesFromRows(rows) {
  const times = [];
  const fields = {};
  rows.forEach((row, i) => {
    times.push(row.received_at_ms / 1000);
    for (const [k, v] of Object.entries(numericFields(row.payload))) {
      if (!fields[k]) fields[k] = new Array(i).fill(null);
      fields[k].push(v);
    }
    for (const arr of Object.values(fields)) if (arr.length < times.length) arr.push(null);
  });
  return { times, fields, hourly: false };
}

// Hourly rows -> the same shape, each field with avg, min and max arrays.
export function seriesFromHourly(rows) {
  const times = [];
  const fields = {};
  rows.forEach((row, i) => {
    times.push(row.hour);
    for (const [k, agg] of Object.entries(row.fields || {})) {
      if (!fields[k]) fields[k] = { avg: new Array(i).fill(null), min: new Array(i).fill(null), max: new Array(i).fill(null) };
      fields[k].avg.push(agg.avg);
      fields[k].min.push(agg.min);
      fields[k].max.push(agg.max);
    }
    for (const f of Object.values(fields)) {
      if (f.avg.length < times.length) {
        f.avg.push(null);
        f.min.push(null);
        f.max.push(null);
      }
    }
  });
  return { times, fields, hourly: true };
}

function emptyText(metric, range, hourly) {
  if (hourly) return `No hourly aggregates of ${metric} in this range yet: the broker aggregates each hour once it is complete.`;
  return `No ${metric} telemetry in this range${range.live ? ' yet; new rows appear as they arrive' : ''}.`;
}

function chartOptions(name, width, hourly, range) {
  const series = [{}, { label: hourly ? `${name} (avg)` : name, stroke: '#1d5fa8', width: 1.5, spanGaps: true }];
  if (hourly) {
    series.push({ label: 'min', stroke: '#8fb3dc', width: 1, dash: [4, 3], spanGaps: true });
    series.push({ label: 'max', stroke: '#8fb3dc', width: 1, dash: [4, 3], spanGaps: true });
  }
  return {
    width,
    height: CHART_HEIGHT,
    title: name,
    cursor: { sync: { key: 'rs1-telemetry' } },
    // The chosen range, not the data's extent, so charts line up and a
    // quiet device shows as a gap rather than a stretched line.
    scales: { x: { time: true, range: () => [Date.now() / 1000 - range.seconds, Date.now() / 1000] } },
    series,
    axes: [{}, { size: 60 }],
  };
}

function chartData(series, name) {
  const f = series.fields[name];
  return series.hourly ? [series.times, f.avg, f.min, f.max] : [series.times, f];
}

export function renderTelemetry(container, deviceId) {
  const metricSelect = h('select', { name: 'metric', 'data-testid': 'telemetry-metric' });
  const rangeSelect = h(
    'select',
    { name: 'range', 'data-testid': 'telemetry-range' },
    RANGES.map((r) => h('option', { value: r.key }, r.label)),
  );
  const status = h('p', { class: 'muted chart-status', 'aria-live': 'polite' });
  const charts = h('div', { class: 'charts', 'data-testid': 'telemetry-charts' });
  container.append(
    h('div', { class: 'filters' }, field('Metric', metricSelect), field('Range', rangeSelect)),
    status,
    charts,
  );

  const metrics = new Set();
  let plots = new Map(); // field name -> uPlot
  let series = null;
  let loadId = 0;
  let alive = true;

  const range = () => RANGES.find((r) => r.key === rangeSelect.value);

  function addMetric(m) {
    if (HIDDEN_METRICS.has(m) || metrics.has(m)) return false;
    metrics.add(m);
    const chosen = metricSelect.value;
    replace(metricSelect, [...metrics].sort().map((name) => h('option', { value: name }, name)));
    metricSelect.value = chosen || [...metrics].sort()[0];
    return true;
  }

  function destroyPlots() {
    for (const p of plots.values()) p.destroy();
    plots = new Map();
    charts.replaceChildren();
  }

  // The width of the grid column a chart sits in (two columns when wide).
  function widthOf(box) {
    return Math.max(MIN_CHART_WIDTH, box.clientWidth || MIN_CHART_WIDTH);
  }

  function draw() {
    destroyPlots();
    const names = Object.keys(series.fields).sort();
    if (!series.times.length || !names.length) {
      status.textContent = series.times.length
        ? 'These rows have no numeric fields to chart.'
        : emptyText(metricSelect.value, range(), series.hourly);
      return;
    }
    const boxes = names.map((name) => h('div', { class: 'chart', 'data-testid': 'telemetry-chart', dataset: { field: name } }));
    charts.append(...boxes);
    names.forEach((name, i) => {
      plots.set(name, new uPlot(chartOptions(name, widthOf(boxes[i]), series.hourly, range()), chartData(series, name), boxes[i]));
    });
  }

  async function load() {
    const id = ++loadId;
    const metric = metricSelect.value;
    series = null; // live rows wait for this load's series (onTelemetry)
    if (!metric) {
      destroyPlots();
      status.textContent = 'This device has sent no telemetry in the last 30 days.';
      return;
    }
    const r = range();
    const since = Math.floor(Date.now() / 1000) - r.seconds;
    status.textContent = 'Loading…';
    try {
      const base = `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry`;
      const hourly = r.seconds > 24 * HOUR_S;
      const { data } = hourly
        ? await api('GET', `${base}/hourly${query({ metric, since })}`)
        : await api('GET', `${base}${query({ metric, since, limit: RAW_LIMIT })}`);
      if (id !== loadId || !alive) return;
      series = hourly ? seriesFromHourly(data) : seriesFromRows(data);
      status.textContent = hourly
        ? `Hourly averages with min and max, ${data.length} hours.`
        : `${data.length} rows${data.length >= RAW_LIMIT ? ` (the first ${RAW_LIMIT} of the range)` : ''}${r.live ? ', live' : ''}.`;
      draw();
    } catch (err) {
      if (id === loadId && alive) replace(status, problemMessage(err));
    }
  }

  // A live row of the chosen metric: append it and drop what left the hour.
  function onTelemetry(e) {
    if (e.device_id !== deviceId) return;
    if (addMetric(e.metric) && metrics.size === 1) load();
    if (!range().live || e.metric !== metricSelect.value || !series) return;
    const t = e.received_at_ms / 1000;
    const values = numericFields(e.payload);
    const known = Object.keys(series.fields);
    const grows = Object.keys(values).some((k) => !known.includes(k));
    series.times.push(t);
    for (const k of new Set([...known, ...Object.keys(values)])) {
      if (!series.fields[k]) series.fields[k] = new Array(series.times.length - 1).fill(null);
      series.fields[k].push(k in values ? values[k] : null);
    }
    const cutoff = Date.now() / 1000 - range().seconds;
    while (series.times.length && series.times[0] < cutoff) {
      series.times.shift();
      for (const arr of Object.values(series.fields)) arr.shift();
    }
    if (grows || plots.size === 0) {
      draw(); // a new field needs a chart of its own
      status.textContent = `${series.times.length} rows, live.`;
      return;
    }
    for (const [name, plot] of plots) plot.setData(chartData(series, name));
    status.textContent = `${series.times.length} rows, live.`;
  }

  // Which metrics the device has: its hourly aggregates of the last 30 days
  // (one small answer) and its raw rows of the last two hours (the current
  // hour is not aggregated yet).
  async function discoverMetrics() {
    const base = `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry`;
    const now = Math.floor(Date.now() / 1000);
    const [hourly, recent] = await Promise.all([
      api('GET', `${base}/hourly${query({ since: now - 30 * 24 * HOUR_S })}`),
      api('GET', `${base}${query({ since: now - 2 * HOUR_S, limit: 5000 })}`),
    ]);
    for (const row of [...hourly.data, ...recent.data]) addMetric(row.metric);
  }

  const resize = new ResizeObserver(() => {
    for (const p of plots.values()) p.setSize({ width: widthOf(p.root.parentElement), height: CHART_HEIGHT });
  });
  resize.observe(charts);

  metricSelect.addEventListener('change', load);
  rangeSelect.addEventListener('change', load);
  const unsubscribe = subscribe('telemetry', onTelemetry);

  discoverMetrics()
    .then(load)
    .catch((err) => {
      if (alive) replace(status, problemMessage(err));
    });

  return {
    destroy() {
      alive = false;
      unsubscribe();
      resize.disconnect();
      destroyPlots();
    },
  };
}
