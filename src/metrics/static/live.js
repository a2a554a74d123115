// The overlay-tcp live view (plain browser JavaScript, no build step). Reads the
// Server-Sent Events stream at ./events: every frame carries the rows of /connections, the
// time-sequence events since the previous frame and, on a chaos proxy, its links.
/* global uPlot */
'use strict';

const MAX_SAMPLES = 3000; // per connection: 10 minutes at 5 frames/s
const MAX_SEQ_ROWS = 20000;
const SSTHRESH_INFINITE = 0x3fffffff;
const EV_SEND = 0, EV_RETRANSMIT = 1, EV_ACK = 2, EV_SACK = 3;
const KINDS = ['rto', 'fast', 'tlp', 'rack', 'probe'];

const $ = (id) => document.getElementById(id);
const conns = new Map(); // conn label -> { info, gone, hist, seq, prev }
let selected = '';
let paused = false;
let zoomed = false;
let lastFrameT = 0;
let frames = 0;

function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (n >= 1048576) return (n / 1048576).toFixed(2) + ' MiB';
  if (n >= 1024) return (n / 1024).toFixed(1) + ' KiB';
  return n + ' B';
}
const fmtMs = (v) => (v === undefined ? '-' : v.toFixed(1) + ' ms');

function newConn() {
  return {
    info: null,
    gone: false,
    prev: null,
    hist: { t: [], cwnd: [], ssthresh: [], inflight: [], sndWnd: [], rcvWnd: [], srtt: [], rto: [], goodput: [], retx: [] },
    seq: { x: [], send: [], retx: [], ack: [], wnd: [], sack: [] },
  };
}

function trim(obj, max) {
  for (const k of Object.keys(obj)) if (obj[k].length > max) obj[k].splice(0, obj[k].length - max);
}

function addSample(c, info, tMs) {
  const h = c.hist;
  const x = tMs / 1000;
  const moved = info.bytesAcked + info.bytesReceived;
  const retx = KINDS.reduce((a, k) => a + (info.retransmits[k] || 0), 0);
  let goodput = null;
  let retxRate = null;
  if (c.prev && x > c.prev.x) {
    const dt = x - c.prev.x;
    goodput = ((moved - c.prev.moved) * 8) / dt / 1e6;
    retxRate = (retx - c.prev.retx) / dt;
  }
  c.prev = { x, moved, retx };
  c.goodput = goodput;
  h.t.push(x);
  h.cwnd.push(info.cwnd);
  h.ssthresh.push(info.ssthresh >= SSTHRESH_INFINITE ? null : info.ssthresh);
  h.inflight.push(info.bytesInFlight);
  h.sndWnd.push(info.sndWnd);
  h.rcvWnd.push(info.rcvWnd);
  h.srtt.push(info.srtt);
  h.rto.push(info.rto);
  h.goodput.push(goodput);
  h.retx.push(retxRate);
  trim(h, MAX_SAMPLES);
}

function addSeq(c, flat) {
  const s = c.seq;
  for (let i = 0; i + 3 < flat.length; i += 4) {
    const kind = flat[i], x = flat[i + 1] / 1000, y1 = flat[i + 2], y2 = flat[i + 3];
    s.x.push(x);
    s.send.push(kind === EV_SEND ? y1 : null);
    s.retx.push(kind === EV_RETRANSMIT ? y1 : null);
    s.ack.push(kind === EV_ACK ? y1 : null);
    s.wnd.push(kind === EV_ACK ? y2 : null);
    s.sack.push(kind === EV_SACK ? y2 : null);
  }
  trim(s, MAX_SEQ_ROWS);
}

// ---- charts ----------------------------------------------------------------------------

const sync = uPlot.sync('overlay');
const charts = {};

function chartWidth(el) {
  return Math.max(320, el.parentElement.clientWidth - 10);
}

function makeChart(id, series, opts = {}) {
  const el = $(id);
  const u = new uPlot(
    {
      width: chartWidth(el),
      height: opts.height || 220,
      cursor: { sync: { key: sync.key }, drag: { x: true, y: false } },
      scales: { x: { time: false }, ...(opts.scales || {}) },
      axes: [{ label: 'time (s, process clock)' }, { label: opts.yLabel || '', size: 70, values: opts.values }, ...(opts.axes || [])],
      legend: { live: true },
      series: [{ label: 't (s)', value: (u, v) => (v === null ? '-' : v.toFixed(2)) }, ...series],
      hooks: {
        setSelect: [(u) => { if (u.select.width > 0) zoomed = true; }],
      },
    },
    [[]].concat(series.map(() => [])),
    el,
  );
  u.over.addEventListener('dblclick', () => { zoomed = false; redraw(true); });
  sync.sub(u);
  charts[id] = u;
  return u;
}

const bytesAxis = (u, vals) => vals.map((v) => fmtBytes(v));
const line = (label, stroke, extra = {}) => ({ label, stroke, width: 1.5, spanGaps: true, ...extra });
const dots = (label, stroke, size = 4) => ({ label, stroke, fill: stroke, paths: () => null, points: { show: true, size, stroke, fill: stroke } });

makeChart('ch-cwnd', [
  line('cwnd', '#1f3fb4', { width: 2, value: (u, v) => fmtBytes(v) }),
  line('ssthresh', '#d62728', { dash: [6, 4], value: (u, v) => fmtBytes(v) }),
  line('in flight', '#7f7f7f', { value: (u, v) => fmtBytes(v) }),
], { yLabel: 'bytes', values: bytesAxis });
makeChart('ch-win', [
  line('send window (peer advertised)', '#2ca02c', { width: 2, value: (u, v) => fmtBytes(v) }),
  line('receive window (we advertise)', '#bcbd22', { width: 2, value: (u, v) => fmtBytes(v) }),
  line('in flight', '#7f7f7f', { value: (u, v) => fmtBytes(v) }),
], { yLabel: 'bytes', values: bytesAxis });
makeChart('ch-rtt', [line('sRTT', '#1f3fb4', { width: 2 }), line('RTO', '#d62728', { dash: [6, 4] })], { yLabel: 'ms' });
makeChart('ch-rate', [
  line('goodput (Mbit/s)', '#2ca02c', { width: 2, scale: 'y' }),
  line('retransmissions/s', '#d62728', { scale: 'r' }),
], { yLabel: 'Mbit/s', scales: { r: { auto: true } }, axes: [{ scale: 'r', side: 1, label: 'retransmissions/s', size: 60, grid: { show: false } }] });
makeChart('ch-seq', [
  dots('sent', '#1f3fb4', 3),
  dots('retransmitted', '#d62728', 7),
  line('ACK', '#2ca02c', { paths: uPlot.paths.stepped({ align: 1 }) }),
  line('receive window edge', '#bcbd22', { paths: uPlot.paths.stepped({ align: 1 }) }),
  dots('SACK block edge', '#9467bd', 4),
], {
  yLabel: 'bytes',
  values: bytesAxis,
  height: 320,
  // The window edge (ACK + a multi-megabyte window) would flatten everything else: the y
  // range follows the data sent, ACKed and SACKed in view, and the edge is clipped at the top.
  scales: { y: { range: (u, dmin, dmax) => seqYRange(u, dmin, dmax) } },
});

function seqYRange(u, dmin, dmax) {
  const x = u.data[0];
  const lo = u.scales.x.min ?? -Infinity, hi = u.scales.x.max ?? Infinity;
  let min = Infinity, max = -Infinity;
  for (const si of [1, 2, 3, 5]) {
    const ys = u.data[si];
    if (!ys) continue;
    for (let i = 0; i < x.length; i++) {
      const v = ys[i];
      if (v === null || v === undefined || x[i] < lo || x[i] > hi) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min === Infinity) return [dmin ?? 0, dmax ?? 1];
  const pad = Math.max(1, (max - min) * 0.05);
  return [min - pad, max + pad];
}

window.addEventListener('resize', () => {
  for (const [id, u] of Object.entries(charts)) u.setSize({ width: chartWidth($(id)), height: u.height });
});

function spanSeconds() {
  return Number($('span').value);
}

function redraw(force) {
  if (paused && !force) return;
  const c = conns.get(selected);
  const empty = !c;
  $('empty').hidden = !empty;
  if (!c) return;
  const h = c.hist;
  const s = c.seq;
  const set = (id, data) => {
    const u = charts[id];
    u.setData(data, false);
    if (zoomed && !force) return;
    const now = lastFrameT / 1000;
    const span = spanSeconds();
    const lo = span > 0 ? now - span : Math.min(h.t[0] ?? now, s.x[0] ?? now);
    u.setScale('x', { min: lo, max: now });
  };
  set('ch-cwnd', [h.t, h.cwnd, h.ssthresh, h.inflight]);
  set('ch-win', [h.t, h.sndWnd, h.rcvWnd, h.inflight]);
  set('ch-rtt', [h.t, h.srtt, h.rto]);
  set('ch-rate', [h.t, h.goodput, h.retx]);
  set('ch-seq', [s.x, s.send, s.retx, s.ack, s.wnd, s.sack]);
}

// ---- numbers and picker -------------------------------------------------------------------

function showNumbers() {
  const c = conns.get(selected);
  const el = $('numbers');
  el.hidden = !c;
  if (!c || !c.info) return;
  const i = c.info;
  const put = (f, text) => { el.querySelector(`[data-f="${f}"]`).textContent = text; };
  put('state', i.state + (c.gone ? ' (gone)' : '') + (i.inRecovery ? ' · recovery' : ''));
  put('cc', i.cc);
  put('cwnd', fmtBytes(i.cwnd));
  put('ssthresh', i.ssthresh >= SSTHRESH_INFINITE ? '∞' : fmtBytes(i.ssthresh));
  put('bytesInFlight', fmtBytes(i.bytesInFlight));
  put('sndWnd', fmtBytes(i.sndWnd));
  put('rcvWnd', fmtBytes(i.rcvWnd));
  put('srtt', fmtMs(i.srtt));
  put('rto', fmtMs(i.rto));
  put('goodput', c.goodput === null || c.goodput === undefined ? '-' : c.goodput.toFixed(2) + ' Mbit/s');
  put('bytesAcked', String(i.bytesAcked));
  const total = KINDS.reduce((a, k) => a + (i.retransmits[k] || 0), 0);
  put('retransmits', `${total} (${KINDS.map((k) => `${k} ${i.retransmits[k] || 0}`).join(', ')})`);
  el.querySelector('[data-f="retransmits"]').dataset.total = String(total);
}

function refreshPicker() {
  const sel = $('conn');
  const labels = [...conns.keys()];
  const want = labels.map((k) => `${k}|${conns.get(k).gone}|${conns.get(k).info?.state}`).join(',');
  if (sel.dataset.sig !== want) {
    sel.dataset.sig = want;
    sel.innerHTML = '';
    if (!labels.length) sel.append(new Option('(none yet)', ''));
    for (const k of labels) {
      const c = conns.get(k);
      sel.append(new Option(`${k} ${c.gone ? '(gone)' : c.info?.state ?? ''}`, k));
    }
  }
  if (!conns.has(selected)) {
    // Pick the live connection that moved the most bytes.
    let best = '', bestBytes = -1;
    for (const [k, c] of conns) {
      const b = (c.info?.bytesSent ?? 0) + (c.gone ? -1e15 : 0);
      if (b > bestBytes) { best = k; bestBytes = b; }
    }
    selected = best;
  }
  sel.value = selected;
}

$('conn').addEventListener('change', (e) => { selected = e.target.value; zoomed = false; showNumbers(); redraw(true); });
$('span').addEventListener('change', () => { zoomed = false; redraw(true); });
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
  setStatus();
  if (!paused) redraw(true);
});

function setStatus(text, cls) {
  const s = $('status');
  if (text !== undefined) { s.dataset.text = text; s.dataset.cls = cls; }
  s.textContent = paused ? 'paused' : s.dataset.text || '';
  s.className = 'status ' + (paused ? 'paused' : s.dataset.cls || '');
}

// ---- chaos proxy ---------------------------------------------------------------------------

const CONTROL_IDS = ['c-loss', 'c-delay', 'c-jitter', 'c-rate', 'c-queue', 'c-partition'];
let controlEnabled = null; // unknown until the first frame

function toxicOf(links, stage) {
  for (const l of links) for (const t of l.toxics || []) if (t.stage === stage && (t.link === '*' || t.link === undefined)) return t;
  for (const l of links) for (const t of l.toxics || []) if (t.stage === stage) return t;
  return undefined;
}

function rateMbit(r) {
  if (typeof r === 'number') return r / 1e6;
  const m = /^([\d.]+)\s*([kmg]?)(bit|bps)?$/i.exec(String(r ?? ''));
  if (!m) return 0;
  return Number(m[1]) * { '': 1e-6, k: 1e-3, m: 1, g: 1e3 }[m[2].toLowerCase()];
}

function showControls(links) {
  const loss = toxicOf(links, 'loss');
  const delay = toxicOf(links, 'delay');
  const bn = toxicOf(links, 'bottleneck');
  const part = toxicOf(links, 'partition');
  const values = {
    'c-loss': loss ? Number(loss.params?.p ?? loss.params?.loss ?? 1) : 0,
    'c-delay': delay ? Number(delay.params?.ms ?? 0) : 0,
    'c-jitter': delay ? Number(delay.params?.jitter ?? 0) : 0,
    'c-rate': bn ? rateMbit(bn.params?.rate) : 0,
    'c-queue': bn && typeof bn.params?.queue === 'number' ? bn.params.queue : null,
  };
  for (const [id, v] of Object.entries(values)) {
    const el = $(id);
    if (document.activeElement === el && el.dataset.dragging === '1') continue; // the user is moving it
    if (v !== null) el.value = String(v);
  }
  if (document.activeElement !== $('c-partition')) $('c-partition').checked = part !== undefined;
  $('o-loss').textContent = (values['c-loss'] * 100).toFixed(1) + ' %';
  $('o-loss').dataset.value = String(values['c-loss']);
  $('o-delay').textContent = values['c-delay'] + ' ms';
  $('o-jitter').textContent = values['c-jitter'] + ' ms';
  $('o-rate').textContent = values['c-rate'] > 0 ? values['c-rate'] + ' Mbit/s' : 'unlimited';
  const q = bn?.params?.queue ?? bn?.params?.queueBytes;
  $('o-queue').textContent = q === undefined ? '-' : typeof q === 'number' ? q + ' pkts' : String(q);
}

async function api(method, path, body) {
  const r = await fetch('api' + path, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) {
    let msg = r.status + '';
    try { msg = (await r.json()).error || msg; } catch { /* not JSON */ }
    throw new Error(msg);
  }
}

async function applyControl(id) {
  const v = (x) => Number($(x).value);
  const stage = (s) => `/links/%2A/stages/${s}`;
  try {
    if (id === 'c-loss') {
      if (v('c-loss') > 0) await api('POST', stage('loss'), { direction: 'both', params: { p: v('c-loss') } });
      else await api('DELETE', stage('loss'));
    } else if (id === 'c-delay' || id === 'c-jitter') {
      await api('POST', stage('delay'), { direction: 'both', params: { ms: v('c-delay'), jitter: v('c-jitter') }, merge: true });
    } else if (id === 'c-rate' || id === 'c-queue') {
      if (v('c-rate') > 0) await api('POST', stage('bottleneck'), { direction: 'both', params: { rate: `${v('c-rate')}mbit`, queue: v('c-queue') }, merge: id === 'c-rate' });
      else await api('DELETE', stage('bottleneck'));
    } else if (id === 'c-partition') {
      if ($('c-partition').checked) await api('POST', stage('partition'), { direction: 'both', params: {} });
      else await api('DELETE', stage('partition'));
    }
    $('c-note').textContent = '';
  } catch (err) {
    $('c-note').textContent = `${id.slice(2)}: ${err.message}`;
  }
}

for (const id of CONTROL_IDS) {
  const el = $(id);
  el.addEventListener('pointerdown', () => { el.dataset.dragging = '1'; });
  el.addEventListener('input', () => {
    el.dataset.dragging = '1';
    if (id === 'c-loss') $('o-loss').textContent = (Number(el.value) * 100).toFixed(1) + ' %';
    if (id === 'c-delay') $('o-delay').textContent = el.value + ' ms';
    if (id === 'c-jitter') $('o-jitter').textContent = el.value + ' ms';
    if (id === 'c-rate') $('o-rate').textContent = Number(el.value) > 0 ? el.value + ' Mbit/s' : 'unlimited';
    if (id === 'c-queue') $('o-queue').textContent = el.value + ' pkts';
  });
  el.addEventListener('change', () => { el.dataset.dragging = '0'; void applyControl(id); });
}

const queueHist = { t: [], lanes: new Map() };
let queueChart = null;
let queueSig = '';

function showQueues(links, tMs) {
  const keys = [];
  for (const l of links) for (const dir of ['up', 'down']) keys.push(`${l.name} ${dir}`);
  queueHist.t.push(tMs / 1000);
  const n = queueHist.t.length;
  for (const l of links) {
    for (const dir of ['up', 'down']) {
      const k = `${l.name} ${dir}`;
      let a = queueHist.lanes.get(k);
      if (!a) queueHist.lanes.set(k, (a = new Array(n - 1).fill(null)));
      a.push(l[dir].queuePackets);
    }
  }
  for (const a of queueHist.lanes.values()) while (a.length < n) a.push(null);
  if (n > MAX_SAMPLES) {
    queueHist.t.splice(0, n - MAX_SAMPLES);
    for (const a of queueHist.lanes.values()) a.splice(0, n - MAX_SAMPLES);
  }
  const sig = [...queueHist.lanes.keys()].join(',');
  const palette = ['#1f3fb4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  if (sig !== queueSig) {
    queueSig = sig;
    if (queueChart) { sync.unsub(queueChart); queueChart.destroy(); delete charts['ch-queue']; }
    $('ch-queue').innerHTML = '';
    queueChart = makeChart('ch-queue', [...queueHist.lanes.keys()].map((k, i) => line(`${k} (packets)`, palette[i % palette.length], { width: 2 })), { yLabel: 'packets queued', height: 200 });
  }
  if (paused) return;
  queueChart.setData([queueHist.t, ...queueHist.lanes.values()], false);
  const now = tMs / 1000, span = spanSeconds();
  if (!zoomed) queueChart.setScale('x', { min: span > 0 ? now - span : queueHist.t[0], max: now });
}

function showLinks(chaos) {
  $('chaos').hidden = false;
  if (chaos.control !== controlEnabled) {
    controlEnabled = chaos.control;
    for (const id of CONTROL_IDS) $(id).disabled = !controlEnabled;
    $('c-note').textContent = controlEnabled ? '' : 'read-only: start the proxy with --api to control it from here';
  }
  showControls(chaos.links);
  const rows = [];
  for (const l of chaos.links) {
    for (const dir of ['up', 'down']) {
      const s = l[dir];
      let dropped = 0;
      const parts = [];
      for (const [stage, c] of Object.entries(s.stages || {})) {
        const v = Object.entries(c.packets || {}).filter(([, n]) => n > 0).map(([verdict, n]) => `${verdict} ${n}`);
        dropped += c.packets?.dropped || 0;
        if (v.length) parts.push(`${stage}: ${v.join(', ')}`);
      }
      rows.push(
        `<tr data-link="${l.name}" data-dir="${dir}"><td class="l">${l.name}</td><td>${dir}</td><td>${s.packetsIn}</td><td>${s.packetsOut}</td>` +
          `<td data-f="dropped">${dropped}</td><td class="l">${parts.join('; ') || '-'}</td>` +
          `<td>${s.queuePackets} pkts / ${fmtBytes(s.queueBytes)}</td><td>${s.queueDelayMs.toFixed(1)} ms</td></tr>`,
      );
    }
  }
  $('links').tBodies[0].innerHTML = rows.join('') || '<tr><td colspan="8" class="l">no link has carried a packet yet</td></tr>';
}

// ---- the stream ------------------------------------------------------------------------------

function onFrame(f) {
  if (f.kind === 'error') return;
  frames++;
  lastFrameT = f.t;
  document.body.dataset.frames = String(frames);
  const seen = new Set();
  for (const row of f.sockets) {
    if (row.proto !== 'tcp' || row.kind !== 'connection') continue;
    seen.add(row.conn);
    let c = conns.get(row.conn);
    if (!c) conns.set(row.conn, (c = newConn()));
    c.info = row;
    c.gone = false;
    addSample(c, row, f.t);
  }
  for (const [k, c] of conns) if (!seen.has(k)) c.gone = true;
  for (const [k, flat] of Object.entries(f.seq || {})) {
    let c = conns.get(k);
    if (!c) conns.set(k, (c = newConn()));
    addSeq(c, flat);
  }
  // Connections gone for long are forgotten (at most 64 kept).
  if (conns.size > 64) for (const [k, c] of conns) if (c.gone && k !== selected && conns.size > 64) conns.delete(k);
  $('tcp').hidden = Boolean(f.chaos) && conns.size === 0;
  if (f.chaos) {
    showLinks(f.chaos);
    showQueues(f.chaos.links, f.t);
  }
  refreshPicker();
  if (!paused) showNumbers();
  redraw(false);
}

function connect() {
  const es = new EventSource('events');
  es.onopen = () => setStatus('live', 'ok');
  es.onmessage = (m) => {
    try {
      onFrame(JSON.parse(m.data));
    } catch (err) {
      console.error(err);
    }
  };
  es.onerror = () => setStatus('disconnected, retrying…', 'bad');
}
connect();

// For tests and the browser console: the charts and what they hold.
window.overlayLive = {
  charts,
  conns,
  get frames() { return frames; },
  get selected() { return selected; },
  seqPoints: () => { const c = conns.get(selected); return c ? c.seq.x.length : 0; },
};
