// The web page over the query API (SPEC §4.1, §6): plain browser JavaScript, no build step.
// Everything it reads comes from this process: /-/keys, the day form, /metrics.
'use strict';

(() => {
  const STATS = ['average', 'median', 'p90', 'p99', 'min', 'max'];
  const COLORS = { average: '#2a6fdb', median: '#1b9e77', p90: '#d95f02', p99: '#b3261e', min: '#7f8c9d', max: '#404a5a' };
  const HOUR_SEC = 3600;
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  // the server's clock, not the browser's: "today" and the open hour are the server's (UTC)
  const clockOffsetMs = Number(body.dataset.nowMs) - Date.now();
  const pollMs = Math.max(250, Number(body.dataset.flushIntervalMs) || 1000);
  const nowMs = () => Date.now() + clockOffsetMs;
  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

  const state = { key: '', type: '', tags: '', end: isoDay(nowMs()), days: 3 };
  /** hourSec -> { stat: value, count, exact, complete } */
  let hours = new Map();
  let loadSeq = 0;
  let charts = null;

  class Problem extends Error {}

  /** GET a JSON answer; a problem+json answer becomes a Problem with its status and detail. */
  async function getJson(url) {
    let res;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' } });
    } catch (err) {
      throw Object.assign(new Problem(`Hourglass does not answer (${err.message}).`), { status: 0 });
    }
    const answer = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Problem(answer.detail || `HTTP ${res.status}`), { status: res.status, title: answer.title || '', code: answer.code || '' });
    return answer;
  }

  function showMessage(text) {
    $('message').hidden = !text;
    $('message').textContent = text || '';
  }

  const describeProblem = (p) => (p.status === 503 ? `The store is unavailable: ${p.message}` : p.status ? `${p.title || 'Error'}: ${p.message}` : p.message);

  // ---- keys ----
  let keysTimer;
  let keyTypes = new Map();
  async function searchKeys() {
    const prefix = $('key-search').value;
    try {
      const answer = await getJson(`/-/keys?limit=200&prefix=${encodeURIComponent(prefix)}`);
      const list = $('key-list');
      list.replaceChildren(
        ...answer.keys.map((k) => {
          keyTypes.set(k.key, k.types);
          const li = document.createElement('li');
          const button = document.createElement('button');
          button.type = 'button';
          button.dataset.key = k.key;
          button.textContent = k.key;
          const types = document.createElement('span');
          types.className = 'types';
          types.textContent = k.types.join(' ');
          button.append(types);
          if (k.key === state.key) button.setAttribute('aria-current', 'true');
          button.addEventListener('click', () => selectKey(k.key));
          li.append(button);
          return li;
        }),
      );
      $('keys-note').textContent = answer.keys.length === 0 ? (prefix ? `No key starts with "${prefix}".` : 'No data yet: send some StatsD lines.') : answer.truncated ? 'More keys: type more of the name.' : '';
    } catch (err) {
      $('keys-note').textContent = describeProblem(err);
    }
  }

  function selectKey(key) {
    state.key = key;
    state.type = '';
    for (const b of document.querySelectorAll('#key-list button')) b.toggleAttribute('aria-current', b.dataset.key === key);
    saveState();
    load();
  }

  // ---- state in the address, so a view can be shared ----
  function saveState() {
    const p = new URLSearchParams();
    if (state.key) p.set('key', state.key);
    if (state.type) p.set('type', state.type);
    if (state.tags) p.set('tags', state.tags);
    p.set('end', state.end);
    p.set('days', String(state.days));
    history.replaceState(null, '', `#${p}`);
  }

  function readState() {
    const p = new URLSearchParams(location.hash.slice(1));
    state.key = p.get('key') || '';
    state.type = p.get('type') || '';
    state.tags = p.get('tags') || '';
    if (/^\d{4}-\d{2}-\d{2}$/.test(p.get('end') || '')) state.end = p.get('end');
    const days = Number(p.get('days'));
    if (Number.isInteger(days) && days >= 1 && days <= 31) state.days = days;
    $('end').value = state.end;
    $('days').value = String(state.days);
    $('tags').value = state.tags;
  }

  // ---- data ----
  function query() {
    const p = new URLSearchParams();
    for (const t of state.tags.split(',').map((s) => s.trim()).filter(Boolean)) p.append('tag', t);
    if (state.type) p.set('type', state.type);
    const s = p.toString();
    return s ? `?${s}` : '';
  }

  function rangeDays() {
    const endMs = Date.parse(`${state.end}T00:00:00Z`);
    const out = [];
    for (let i = state.days - 1; i >= 0; i--) out.push(isoDay(endMs - i * 86_400_000));
    return out;
  }

  // a set answers only count (distinct members): the other stats are skipped, not errors
  const skipped = (err) => {
    if (err.status === 404 || err.code === 'HG_STAT_NOT_APPLICABLE') return err;
    throw err;
  };

  /** Every stat of one day: { hours: hourSec -> entry }, or { empty: the 404 } when it holds no data. */
  async function fetchDay(day) {
    const base = `/${encodeURIComponent(state.key)}`;
    let answers = await Promise.all(STATS.map((stat) => getJson(`${base}/${stat}/${day}${query()}`).catch(skipped)));
    if (answers.every((a) => a instanceof Problem && a.code === 'HG_STAT_NOT_APPLICABLE')) {
      // a set: its count per hour only (distinct members), no values to chart
      const count = await getJson(`${base}/count/${day}${query()}`).catch(skipped);
      answers = [count instanceof Problem ? count : { hours: count.hours.map((h) => ({ ...h, value: undefined })) }];
    }
    if (answers.every((a) => a instanceof Problem)) return { empty: answers[0] };
    const dayStartSec = Date.parse(`${day}T00:00:00Z`) / 1000;
    const out = new Map();
    answers.forEach((a, i) => {
      if (a instanceof Problem) return;
      for (const h of a.hours) {
        const sec = dayStartSec + h.hour * HOUR_SEC;
        const e = out.get(sec) || { count: h.count, exact: true, complete: h.complete };
        if (h.value !== undefined) e[STATS[i]] = h.value;
        e.exact = e.exact && h.exact;
        e.complete = e.complete && h.complete;
        out.set(sec, e);
      }
    });
    return { hours: out };
  }

  async function load() {
    const seq = ++loadSeq;
    updateTitle();
    if (!state.key) return;
    $('status').textContent = 'Loading…';
    try {
      const days = rangeDays();
      const results = await Promise.all(days.map(fetchDay));
      if (seq !== loadSeq) return;
      hours = new Map();
      for (const r of results) if (r.hours) for (const [k, v] of r.hours) hours.set(k, v);
      const empty = results.find((r) => r.empty);
      if (hours.size === 0) {
        showMessage(`No data: ${empty ? empty.empty.message : ''} ${days.length > 1 ? `(nor on the ${days.length - 1} days before)` : ''}`.trim());
      } else showMessage('');
      render();
    } catch (err) {
      if (seq !== loadSeq) return;
      hours = new Map();
      render();
      showMessage(describeProblem(err));
      if (err.status === 409) offerTypes();
    }
  }

  /** The open hour, when it lies in the range shown: fetched again at the flush interval. */
  async function poll() {
    if (!state.key || document.hidden) return;
    const today = isoDay(nowMs());
    if (!rangeDays().includes(today)) return;
    const seq = loadSeq;
    try {
      const r = await fetchDay(today);
      if (seq !== loadSeq) return;
      if (r.hours) {
        for (const [k, v] of r.hours) hours.set(k, v);
        showMessage('');
        render();
      }
    } catch (err) {
      if (seq === loadSeq) showMessage(describeProblem(err));
    }
  }

  function offerTypes() {
    const types = keyTypes.get(state.key) || ['ms', 'c', 'g', 's'];
    const select = $('type');
    select.replaceChildren(...['', ...types].map((t) => Object.assign(document.createElement('option'), { value: t, textContent: t || 'choose…' })));
    select.value = state.type;
    $('type-field').hidden = false;
  }

  function updateTitle() {
    $('key-title').textContent = state.key || 'Choose a key';
    const types = keyTypes.get(state.key);
    if (types && types.length > 1) offerTypes();
    else if (!state.type) $('type-field').hidden = true;
  }

  // ---- drawing ----
  const fmt = (v) => (v === undefined || v === null ? '' : Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Math.round(v * 1000) / 1000));

  /** Hourly x values from the first to the last hour with data, null where an hour has none. */
  function plotData() {
    const secs = [...hours.keys()].sort((a, b) => a - b);
    if (secs.length === 0) return null;
    const xs = [];
    for (let s = secs[0]; s <= secs[secs.length - 1]; s += HOUR_SEC) xs.push(s);
    const col = (f) => xs.map((x) => (hours.has(x) ? f(hours.get(x)) : null));
    return { xs, values: [xs, ...STATS.map((stat) => col((e) => (e[stat] === undefined ? null : e[stat])))], counts: [xs, col((e) => e.count)] };
  }

  /** Marks what a line cannot say: a shaded band over an open hour, hollow points where estimated. */
  function marks(u) {
    const ctx = u.ctx;
    const xs = u.data[0];
    ctx.save();
    for (let i = 0; i < xs.length; i++) {
      const e = hours.get(xs[i]);
      if (!e) continue;
      if (!e.complete) {
        const x0 = u.valToPos(xs[i] - HOUR_SEC / 2, 'x', true);
        const x1 = u.valToPos(xs[i] + HOUR_SEC / 2, 'x', true);
        ctx.fillStyle = 'rgba(255, 193, 7, 0.18)';
        ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      }
      if (!e.exact && u.series.length > 2) {
        for (let s = 1; s < u.series.length; s++) {
          const v = u.data[s][i];
          if (v === null || v === undefined) continue;
          ctx.beginPath();
          ctx.arc(u.valToPos(xs[i], 'x', true), u.valToPos(v, 'y', true), 4 * devicePixelRatio, 0, 2 * Math.PI);
          ctx.fillStyle = '#fff';
          ctx.strokeStyle = u.series[s].stroke(u, s);
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.fill();
          ctx.stroke();
        }
      }
    }
    ctx.restore();
  }

  function chartWidth() {
    return Math.max(260, $('view').clientWidth - 8);
  }

  // hours are UTC everywhere in Hourglass, so the axes are too, whatever the browser's zone
  const tzDate = (sec) => uPlot.tzDate(new Date(sec * 1000), 'Etc/UTC');

  function makeCharts(data) {
    const width = chartWidth();
    const height = width < 500 ? 220 : 300;
    const values = new uPlot(
      {
        width,
        height,
        scales: { x: { time: true } },
        tzDate,
        series: [{}, ...STATS.map((stat) => ({ label: stat, stroke: COLORS[stat], width: stat === 'average' || stat === 'median' ? 2 : 1.25, spanGaps: false, points: { size: 5 } }))],
        hooks: { draw: [marks] },
        axes: [{}, { size: 60 }],
      },
      data.values,
      $('chart-values'),
    );
    const counts = new uPlot(
      {
        width,
        height: Math.round(height / 2),
        scales: { x: { time: true } },
        tzDate,
        series: [{}, { label: 'count', stroke: '#5b6576', fill: 'rgba(91, 101, 118, 0.35)', paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }],
        hooks: { draw: [marks] },
        axes: [{}, { size: 60 }],
      },
      data.counts,
      $('chart-count'),
    );
    return { values, counts };
  }

  function render() {
    const data = plotData();
    const target = $('chart-values');
    if (data === null) {
      if (charts) {
        charts.values.destroy();
        charts.counts.destroy();
        charts = null;
      }
      target.dataset.plotted = '';
    } else if (charts === null) charts = makeCharts(data);
    else {
      charts.values.setData(data.values);
      charts.counts.setData(data.counts);
    }
    // what was plotted, for assistive tools and the browser tests
    if (data !== null) target.dataset.plotted = JSON.stringify({ x: data.xs, ...Object.fromEntries(STATS.map((s, i) => [s, data.values[i + 1]])), count: data.counts[1] });
    renderTable();
    const open = [...hours.values()].some((e) => !e.complete);
    $('status').textContent = hours.size === 0 ? '' : `${hours.size} hours with data${open ? '; the open hour updates live' : ''}. Updated ${new Date(nowMs()).toISOString().slice(11, 19)} UTC.`;
  }

  function renderTable() {
    const rows = [...hours.entries()].sort((a, b) => b[0] - a[0]);
    $('hours').tBodies[0].replaceChildren(
      ...rows.map(([sec, e]) => {
        const tr = document.createElement('tr');
        tr.dataset.hourSec = String(sec);
        if (!e.complete) tr.className = 'open';
        const cell = (text, stat, value) => {
          const td = document.createElement('td');
          td.textContent = text;
          if (stat) {
            td.dataset.stat = stat;
            td.dataset.value = String(value);
          }
          return td;
        };
        tr.append(cell(new Date(sec * 1000).toISOString().slice(0, 13).replace('T', ' ') + ':00'));
        for (const stat of STATS) {
          const estimated = !e.exact && (stat === 'median' || stat === 'p90' || stat === 'p99');
          tr.append(e[stat] === undefined ? cell('') : cell(`${estimated ? '≈' : ''}${fmt(e[stat])}`, stat, e[stat]));
        }
        tr.append(cell(fmt(e.count), 'count', e.count));
        tr.append(cell(`${e.complete ? 'complete' : 'open (live)'}${e.exact ? '' : ', estimated'}`));
        return tr;
      }),
    );
  }

  // ---- pipeline health, from this process's own /metrics ----
  let lastLines = null;
  async function health() {
    let text;
    try {
      const res = await fetch('/metrics');
      if (!res.ok) return;
      text = await res.text();
    } catch {
      return;
    }
    const sum = (name) => {
      let total = null;
      const re = new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
      const byReason = {};
      for (const m of text.matchAll(re)) {
        const v = Number(m[2]);
        total = (total || 0) + v;
        const reason = /reason="([^"]*)"/.exec(m[1] || '');
        if (reason && v > 0) byReason[reason[1]] = v;
      }
      return { total, byReason };
    };
    const lines = sum('hourglass_lines_received_total');
    // a process without a gateway (the query role) has nothing to show here
    if (lines.total === null) return;
    $('health').hidden = false;
    const t = performance.now();
    if (lastLines) $('lines-rate').textContent = fmt(Math.max(0, (lines.total - lastLines.total) / ((t - lastLines.t) / 1000)));
    lastLines = { total: lines.total, t };
    const rejected = sum('hourglass_lines_rejected_total');
    const reasons = Object.entries(rejected.byReason).map(([r, v]) => `${r} ${v}`);
    $('rejected').textContent = reasons.length ? reasons.join(', ') : '0';
    $('rejected').classList.toggle('bad', reasons.length > 0);
    const drops = sum('hourglass_udp_receive_drops_total').total || 0;
    $('udp-drops').textContent = String(drops);
    $('udp-drops').classList.toggle('bad', drops > 0);
    const batches = sum('hourglass_batches_dropped_total').total || 0;
    $('batches-dropped').textContent = String(batches);
    $('batches-dropped').classList.toggle('bad', batches > 0);
  }

  // ---- wiring ----
  function onControls() {
    state.end = $('end').value || isoDay(nowMs());
    state.days = Number($('days').value);
    state.tags = $('tags').value.trim();
    state.type = $('type').value;
    saveState();
    load();
  }

  readState();
  $('key-search').addEventListener('input', () => {
    clearTimeout(keysTimer);
    keysTimer = setTimeout(searchKeys, 200);
  });
  for (const id of ['end', 'days', 'tags', 'type']) $(id).addEventListener('change', onControls);
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    onControls();
  });
  window.addEventListener('hashchange', () => {
    readState();
    load();
  });
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (!charts) return;
      const width = chartWidth();
      charts.values.setSize({ width, height: width < 500 ? 220 : 300 });
      charts.counts.setSize({ width, height: width < 500 ? 110 : 150 });
    }, 150);
  });
  searchKeys();
  load();
  health();
  setInterval(poll, pollMs);
  setInterval(health, Math.max(pollMs, 2000));
})();
