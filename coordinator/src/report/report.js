// report.html's script: sortable tables, lineage nodes that lead to their table row, and a
// chart readout. Everything it shows is already in the static page; the script only adds
// interaction. Its last act marks the page ready and records what rendered, for the browser test.
(function () {
  "use strict";
  var root = document.documentElement;

  function flash(el) {
    el.scrollIntoView({ block: "center" });
    el.classList.add("flash");
    setTimeout(function () { el.classList.remove("flash"); }, 1600);
  }

  // Lineage: a proposal node leads to its row in the proposals table.
  document.querySelectorAll("#lineage .node.proposal").forEach(function (node) {
    function go() {
      var row = document.getElementById("prop-" + node.getAttribute("data-proposal"));
      if (row) { flash(row); }
    }
    node.addEventListener("click", go);
    node.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
  });

  // Sortable tables: click a header to sort by it (numbers numerically), again to reverse.
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
        th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return c * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // Chart readout: hovering a point or bar shows its numbers under the chart.
  var readout = document.getElementById("chart-readout");
  document.querySelectorAll("#pass-rate-chart [data-label]").forEach(function (el) {
    el.addEventListener("mouseenter", function () {
      readout.textContent = el.getAttribute("data-label");
    });
  });

  root.setAttribute("data-points", String(document.querySelectorAll("#pass-rate-chart .pt").length));
  root.setAttribute("data-proposals", String(document.querySelectorAll("#lineage .node.proposal").length));
  root.setAttribute("data-champions", String(document.querySelectorAll("#lineage .node.champion").length));
  root.setAttribute("data-ready", "true");
})();
