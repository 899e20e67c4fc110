// Draws the features of an OGC API HTML page (the JSON in #ogc-features) with the service's own Leaflet.
// Popups are built from text nodes: property values are never read as HTML.
(function () {
  "use strict";
  var holder = document.getElementById("map");
  var island = document.getElementById("ogc-features");
  if (!holder || !island || typeof L === "undefined") { return; }
  var data = JSON.parse(island.textContent);
  var map = L.map(holder);
  var tiles = holder.getAttribute("data-tiles");
  if (tiles) {
    L.tileLayer(tiles, { attribution: holder.getAttribute("data-attribution") || "", maxZoom: 19 }).addTo(map);
  }
  function popup(feature) {
    var table = document.createElement("table");
    var props = feature.properties || {};
    Object.keys(props).forEach(function (key) {
      var row = table.insertRow();
      row.insertCell().textContent = key;
      var value = props[key];
      row.insertCell().textContent = value === null ? "" : (typeof value === "object" ? JSON.stringify(value) : String(value));
    });
    return table;
  }
  var layer = L.geoJSON(data, {
    style: function () { return { color: "#b22222", weight: 2, fillOpacity: 0.15 }; },
    pointToLayer: function (feature, latlng) {
      return L.circleMarker(latlng, { radius: 6, color: "#b22222", weight: 2, fillOpacity: 0.6 });
    },
    onEachFeature: function (feature, lyr) { lyr.bindPopup(function () { return popup(feature); }); }
  }).addTo(map);
  var bounds = layer.getBounds();
  if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 15, padding: [12, 12] }); }
  else { map.setView([18.14, 100.14], 9); }  // Phrae, when the page has no geometry
  holder.setAttribute("data-drawn", String(layer.getLayers().length));
})();
