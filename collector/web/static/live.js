"use strict";
// The dashboard's live refresh: on each server-sent event, fetch this same page again and swap in the
// server-rendered parts (so names, times and language stay those the server renders; no HTML built here).
const LIVE_PARTS = ["fleet-body", "entries-body", "alerts-body", "reports-summary"];
let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const res = await fetch(window.location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}});
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    for (const id of LIVE_PARTS) {
      const now = document.getElementById(id), fresh = doc.getElementById(id);
      if (now && fresh) now.replaceWith(document.adoptNode(fresh));
    }
  } finally {
    busy = false;
  }
}
if (window.EventSource) {
  const source = new EventSource("/api/events");
  source.onmessage = refresh;
} else {
  setInterval(refresh, 5000);
}
