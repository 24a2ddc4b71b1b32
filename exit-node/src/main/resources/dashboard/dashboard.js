// Splitstream exit dashboard: renders the snapshots that /dashboard/api/events sends every second.
// Text goes in with textContent only (peers choose token ids and host names); no libraries, no network but this node.
'use strict';

const HISTORY = 60; // throughput points kept per session (one a second)
const history = new Map(); // session id -> [{t, up, down}]

function bytes(n) {
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n, u = -1;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return v.toFixed(1) + ' ' + units[u];
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min ago';
}

function cell(row, text, cls) {
  const td = document.createElement('td');
  td.textContent = text == null ? '–' : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, render) {
  const table = document.getElementById(tableId);
  if (!table) return;
  const body = table.tBodies[0];
  body.replaceChildren();
  items.forEach(item => body.appendChild(render(item)));
  const empty = document.getElementById(tableId + '-empty');
  table.classList.toggle('hidden', items.length === 0);
  if (empty) empty.classList.toggle('hidden', items.length !== 0);
}

function remember(s, at) {
  let points = history.get(s.id);
  if (!points) history.set(s.id, points = []);
  points.push({ t: at, up: s.bytesUp, down: s.bytesDown });
  if (points.length > HISTORY + 1) points.shift();
}

function rates(points) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const dt = Math.max(0.001, (points[i].t - points[i - 1].t) / 1000);
    out.push({ up: (points[i].up - points[i - 1].up) / dt, down: (points[i].down - points[i - 1].down) / dt });
  }
  return out;
}

function spark(id) {
  const canvas = document.createElement('canvas');
  canvas.className = 'spark';
  canvas.width = 160;
  canvas.height = 30;
  canvas.dataset.session = id;
  const r = rates(history.get(id) || []);
  const ctx = canvas.getContext('2d');
  ctx.strokeStyle = '#e5e7eb';
  ctx.beginPath();
  ctx.moveTo(0, canvas.height - 1.5);
  ctx.lineTo(canvas.width, canvas.height - 1.5);
  ctx.stroke();
  const max = Math.max(1, ...r.map(p => Math.max(p.up, p.down)));
  // the newest point at the right edge; one step per second, 10 steps at least so a new chart is not all drawn at once
  const step = canvas.width / Math.max(10, Math.min(HISTORY, r.length - 1));
  const line = (key, colour, dash) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(dash);
    ctx.beginPath();
    r.forEach((p, i) => {
      const x = canvas.width - (r.length - 1 - i) * step;
      const y = canvas.height - 2 - (p[key] / max) * (canvas.height - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  line('down', '#2563eb', []);
  line('up', '#0a7f55', [4, 3]);
  return canvas;
}

function rateLabel(id) {
  const r = rates(history.get(id) || []);
  const last = r.length ? r[r.length - 1] : { up: 0, down: 0 };
  const span = document.createElement('span');
  span.className = 'rate';
  span.textContent = '↑ ' + bytes(Math.round(last.up)) + '/s  ↓ ' + bytes(Math.round(last.down)) + '/s';
  return span;
}

function renderSessions(sessions, at) {
  const count = document.getElementById('session-count');
  if (count) count.textContent = sessions.length;
  const live = new Set(sessions.map(s => s.id));
  for (const id of history.keys()) if (!live.has(id)) history.delete(id);
  sessions.forEach(s => remember(s, at));
  fill('sessions', sessions, s => {
    const row = document.createElement('tr');
    row.dataset.session = s.id;
    if (!s.attached) row.className = 'detached';
    cell(row, s.id.slice(0, 12) + '…', 'mono').title = s.id;
    cell(row, s.tokenId);
    cell(row, s.agent);
    cell(row, s.attached ? s.transport : s.transport + ' (waiting for resume)');
    cell(row, s.remoteAddress, 'mono');
    cell(row, ago(s.since)).title = s.since;
    cell(row, s.rttMillis == null ? null : s.rttMillis.toFixed(1) + ' ms', 'num');
    cell(row, bytes(s.bytesUp), 'num bytes-up').dataset.value = s.bytesUp;
    cell(row, bytes(s.bytesDown), 'num bytes-down').dataset.value = s.bytesDown;
    cell(row, s.streams, 'num');
    const chart = document.createElement('td');
    chart.className = 'chart';
    chart.appendChild(spark(s.id));
    chart.appendChild(rateLabel(s.id));
    row.appendChild(chart);
    return row;
  });
}

function renderAgents(agents) {
  const empty = document.getElementById('agents-empty');
  if (empty && agents.note) empty.textContent = 'No agents: ' + agents.note + '.';
  fill('agents', agents.agents || [], a => {
    const row = document.createElement('tr');
    row.dataset.agent = a.name;
    cell(row, a.name);
    cell(row, a.tokenId);
    cell(row, a.connected ? 'connected' : 'away', a.connected ? '' : 'bad');
    cell(row, a.lastSeen ? ago(a.lastSeen) : null).title = a.lastSeen || '';
    const services = a.services || [];
    cell(row, services.map(s => s.name + ' (' + s.kind + (s.publicPort ? ', public port ' + s.publicPort : '')
      + ' -> ' + s.target + ')').join(', '), 'detail');
    const expiring = services.filter(s => s.leaseExpires).map(s => s.name + ' port ' + s.leasedPort + ' until '
      + new Date(s.leaseExpires).toLocaleTimeString());
    cell(row, expiring.length ? expiring.join(', ') : (services.some(s => s.leasedPort) ? 'held while connected' : null));
    return row;
  });
}

function renderRequests(requests) {
  const empty = document.getElementById('requests-empty');
  if (empty && requests.note) empty.textContent = 'No requests: ' + requests.note + '.';
  const all = requests.requests || [];
  const agentSelect = document.getElementById('filter-agent');
  if (agentSelect) {
    const known = new Set([...agentSelect.options].map(o => o.value));
    all.forEach(r => {
      if (!known.has(r.agent)) {
        known.add(r.agent);
        const o = document.createElement('option');
        o.value = o.textContent = r.agent;
        agentSelect.appendChild(o);
      }
    });
  }
  const agent = agentSelect ? agentSelect.value : '';
  const statusSelect = document.getElementById('filter-status');
  const status = statusSelect ? statusSelect.value : '';
  const shown = all.filter(r => (!agent || r.agent === agent) && (!status || String(r.status).startsWith(status)));
  fill('requests', shown, r => {
    const row = document.createElement('tr');
    cell(row, new Date(r.at).toLocaleTimeString()).title = r.at;
    cell(row, r.agent + (r.service ? '/' + r.service : ''));
    cell(row, r.via);
    cell(row, r.method);
    cell(row, r.path, 'mono');
    cell(row, r.status, 'num' + (r.status >= 500 ? ' bad' : ''));
    cell(row, r.latencyMillis == null ? null : r.latencyMillis + ' ms', 'num');
    cell(row, bytes(r.bytesIn || 0), 'num');
    cell(row, bytes(r.bytesOut || 0), 'num');
    return row;
  });
}

function renderRefusals(refusals) {
  fill('refusals', refusals, r => {
    const row = document.createElement('tr');
    cell(row, new Date(r.at).toLocaleTimeString()).title = r.at;
    cell(row, r.kind);
    cell(row, r.reason, 'bad');
    cell(row, r.detail, 'detail');
    return row;
  });
}

let latest = null;

function render(snapshot) {
  latest = snapshot;
  const at = Date.parse(snapshot.at) || Date.now();
  renderSessions(snapshot.sessions, at);
  renderAgents(snapshot.agents);
  renderRequests(snapshot.requests);
  renderRefusals(snapshot.refusals);
}

function connect() {
  const live = document.getElementById('live');
  const events = new EventSource('/dashboard/api/events');
  events.addEventListener('snapshot', e => {
    live.textContent = 'live';
    live.classList.remove('off');
    render(JSON.parse(e.data));
  });
  events.onerror = () => {
    live.textContent = 'reconnecting…';
    live.classList.add('off');
  };
}

document.addEventListener('DOMContentLoaded', () => {
  ['filter-agent', 'filter-status'].forEach(id => {
    const el = document.getElementById(id);
    if (el) el.addEventListener('change', () => latest && renderRequests(latest.requests));
  });
  connect();
});
