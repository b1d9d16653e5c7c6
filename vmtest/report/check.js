// Self-check: mark every chart that the browser laid out and drew, so that
// a test (or a reader) can see that all of them rendered.
(function () {
  "use strict";
  var figs = document.querySelectorAll("figure.chart");
  var ok = 0;
  figs.forEach(function (f) {
    var svg = f.querySelector("svg.plot");
    var good = false;
    if (svg) {
      var r = svg.getBoundingClientRect();
      var bb = svg.getBBox();
      good = r.width >= 200 && r.height >= 80 && bb.width > 0 && bb.height > 0 &&
        svg.querySelectorAll("path").length > 0;
    }
    f.setAttribute("data-rendered", good ? "ok" : "failed");
    if (good) {
      ok++;
    } else {
      console.error("chart did not render: " + f.id);
    }
  });
  document.body.setAttribute("data-charts-rendered", String(ok));
})();
