"use strict";
// The office's map (Leaflet, vendored in static/leaflet). The page's content is the list of venues beside
// the map; this script reads the points from the list's data- attributes (one source, no inline script)
// and replaces the server-drawn plain map with a Leaflet one. Without a tile server (--map-tiles none), or
// when its tiles fail to load, the venues' names stay shown beside their points on a plain background.
(function () {
  const box = document.getElementById("map");
  if (!box || !window.L) return;
  const items = Array.from(document.querySelectorAll("#venue-list li[data-lat]"));
  if (!items.length) return;
  const tiles = box.dataset.tiles || "";
  box.replaceChildren();
  const map = L.map(box, {zoomSnap: 0.5});
  const markers = [];
  function label(marker, always) {
    marker.unbindTooltip();
    marker.bindTooltip(marker.options.venueName, {permanent: always, direction: "right", offset: [8, 0]});
  }
  const points = items.map(function (li) {
    const at = [parseFloat(li.dataset.lat), parseFloat(li.dataset.lon)];
    const marker = L.circleMarker(at, {radius: 9, color: "#ffffff", weight: 2, fillColor: li.dataset.colour,
                                       fillOpacity: 0.95, venueName: li.dataset.name});
    label(marker, !tiles);
    const link = li.querySelector("a");
    marker.on("click", function () { li.classList.add("picked"); if (link) link.focus(); });
    marker.addTo(map);
    markers.push(marker);
    return at;
  });
  if (tiles) {
    let failed = 0;
    const layer = L.tileLayer(tiles, {maxZoom: 19, attribution: box.dataset.attribution || ""});
    layer.on("tileerror", function () {
      failed += 1;
      if (failed === 3) { box.classList.add("plain"); markers.forEach(function (m) { label(m, true); }); }
    });
    layer.addTo(map);
  }
  map.fitBounds(points, {padding: [40, 40], maxZoom: 16});
})();
