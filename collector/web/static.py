"""The dashboard's stylesheet and its one script, served from /static/ (no third-party code)."""

from __future__ import annotations

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1d3557;color:#fff;padding:.6em 1em;display:flex;gap:1.2em;align-items:center}
header a{color:#fff} header form{margin-left:auto}
main{padding:1em} table{border-collapse:collapse;margin:.5em 0 1.5em} td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}
tr.online td.status{background:#cdeccd} tr.offline td.status{background:#f6c6c6} tr.stopped td.status{background:#e4e4e4}
tr.unknown td.status{background:#fff3c4} .warn{background:#f6c6c6;padding:1em;border-left:6px solid #b00020}
.ok{background:#cdeccd;padding:1em;border-left:6px solid #2e7d32} textarea{width:100%;max-width:40em}
"""

LIVE_JS = """
"use strict";
function cell(row, text) { const td = document.createElement("td"); td.textContent = text ?? ""; row.appendChild(td); }
async function refreshEntries() {
  const body = document.getElementById("entries-body");
  if (!body) return;
  const res = await fetch("/api/entries?limit=25", {credentials: "same-origin"});
  if (!res.ok) return;
  const doc = await res.json();
  body.replaceChildren();
  for (const e of doc.entries) {
    const tr = document.createElement("tr");
    tr.className = "entry";
    for (const k of ["ts", "site", "device", "seq", "decision", "reason", "credential_type", "subject"]) cell(tr, e[k]);
    body.appendChild(tr);
  }
}
async function refreshFleet() {
  const body = document.getElementById("fleet-body");
  if (!body) return;
  const res = await fetch("/api/fleet", {credentials: "same-origin"});
  if (!res.ok) return;
  const doc = await res.json();
  body.replaceChildren();
  for (const d of doc.devices) {
    const tr = document.createElement("tr");
    tr.className = d.status;
    const a = document.createElement("a");
    a.href = "/device/" + encodeURIComponent(d.site) + "/" + encodeURIComponent(d.device);
    a.textContent = d.site + "/" + d.device;
    const td = document.createElement("td"); td.appendChild(a); tr.appendChild(td);
    cell(tr, d.door);
    const st = document.createElement("td"); st.className = "status"; st.textContent = d.status; tr.appendChild(st);
    for (const k of ["entries", "accepts", "denies", "missing", "last_entry_ts", "open_alerts"]) cell(tr, d[k]);
    body.appendChild(tr);
  }
}
function refresh() { refreshEntries(); refreshFleet(); }
if (window.EventSource) {
  const source = new EventSource("/api/events");
  source.onmessage = refresh;
} else {
  setInterval(refresh, 5000);
}
"""
