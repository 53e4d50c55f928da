// A trace page's script: expand or collapse every full observation at once, and open the step
// the link pointed at. Its last act marks the page ready, for the browser test.
(function () {
  "use strict";
  var root = document.documentElement;
  var button = document.getElementById("toggle-all");
  var open = false;
  button.addEventListener("click", function () {
    open = !open;
    document.querySelectorAll("details.full").forEach(function (d) { d.open = open; });
    button.textContent = open ? "collapse all observations" : "expand all observations";
  });
  var target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (target) {
    var d = target.querySelector("details.full");
    if (d) { d.open = true; }
  }
  root.setAttribute("data-steps", String(document.querySelectorAll(".step").length));
  root.setAttribute("data-ready", "true");
})();
