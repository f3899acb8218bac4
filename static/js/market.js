/* The instrument page: draws the depth and price charts from the page's data and fetches
   live.json again whenever the market changes (live.js: pushed, else every 2 s) to redraw the
   charts, the book, the tape and the caller's own orders.
   Prices stay strings for display; the charts place them by exact integer ten-thousandths. */
(function () {
  "use strict";
  var config = document.getElementById("market-config");
  var initial = document.getElementById("market-data");
  if (!config || !initial) { return; }
  var SVG = "http://www.w3.org/2000/svg";
  var W = 480, H = 220, PAD = 34;

  function units(price) { // "12.3400" -> 123400, exact for up to 4 decimals
    var parts = String(price).split(".");
    var frac = ((parts[1] || "") + "0000").slice(0, 4);
    return parseInt(parts[0] + frac, 10);
  }
  function yuan(price) { // "1234.5" -> "¥1,234.5000", as the pages' yuan:4 filter writes a price (strings, no float)
    if (price === null || price === undefined || price === "") { return ""; }
    var text = String(price), sign = text.charAt(0) === "-" ? "−" : "";
    var parts = text.replace("-", "").split(".");
    var frac = parts[1] || "";
    while (frac.length < 4) { frac += "0"; }
    return sign + "¥" + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + frac;
  }
  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }
  function emptyRow(body, cols, label) {
    var tr = document.createElement("tr");
    var td = cell(tr, label, "empty");
    td.colSpan = cols;
    body.appendChild(tr);
  }
  function localTime(iso) { return String(iso).slice(5, 19).replace("T", " "); }

  function drawDepth(depth) {
    var svg = document.getElementById("depth-chart");
    if (!svg) { return; }
    clear(svg);
    var levels = depth.bids.concat(depth.asks);
    if (!levels.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "muted" }, config.dataset.labelEmptyBook));
      return;
    }
    var prices = levels.map(function (l) { return units(l.price); });
    var lo = Math.min.apply(null, prices), hi = Math.max.apply(null, prices);
    var span = Math.max(hi - lo, 1);
    var top = Math.max.apply(null, levels.map(function (l) { return l.cumulative; }));
    function x(p) { return PAD + (units(p) - lo) / span * (W - 2 * PAD); }
    function y(q) { return H - PAD - q / top * (H - 2 * PAD); }
    function steps(side, cls) {
      if (!side.length) { return; }
      var d = "M" + x(side[0].price) + "," + y(0);
      side.forEach(function (l) { d += " L" + x(l.price) + "," + y(l.cumulative - l.qty) + " L" + x(l.price) + "," + y(l.cumulative); });
      svg.appendChild(el("path", { d: d, "class": cls }));
    }
    steps(depth.bids, "line bid");
    steps(depth.asks, "line ask");
    svg.appendChild(el("line", { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, "class": "axis" }));
    svg.appendChild(el("text", { x: PAD, y: H - 10, "class": "tick" }, levels.reduce(function (a, l) { return units(l.price) === lo ? l.price : a; }, "")));
    svg.appendChild(el("text", { x: W - PAD, y: H - 10, "text-anchor": "end", "class": "tick" }, levels.reduce(function (a, l) { return units(l.price) === hi ? l.price : a; }, "")));
    svg.appendChild(el("text", { x: 4, y: PAD - 6, "class": "tick" }, String(top)));
  }

  function drawPrice(bars) {
    var svg = document.getElementById("price-chart");
    if (!svg) { return; }
    clear(svg);
    if (!bars.length) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", "class": "muted" }, config.dataset.labelNoTrades));
      return;
    }
    var lo = Math.min.apply(null, bars.map(function (b) { return units(b.low); }));
    var hi = Math.max.apply(null, bars.map(function (b) { return units(b.high); }));
    var span = Math.max(hi - lo, 1);
    var step = (W - 2 * PAD) / bars.length;
    function y(p) { return H - PAD - (units(p) - lo) / span * (H - 2 * PAD); }
    bars.forEach(function (b, i) {
      var cx = PAD + step * (i + 0.5);
      var up = units(b.close) >= units(b.open);
      svg.appendChild(el("line", { x1: cx, x2: cx, y1: y(b.high), y2: y(b.low), "class": up ? "wick up" : "wick down" }));
      var y1 = Math.min(y(b.open), y(b.close)), h = Math.max(Math.abs(y(b.open) - y(b.close)), 1);
      var rect = el("rect", { x: cx - Math.max(step * 0.3, 1), y: y1, width: Math.max(step * 0.6, 2), height: h, "class": up ? "up" : "down" });
      rect.appendChild(el("title", {}, localTime(b.start) + "  O " + b.open + " H " + b.high + " L " + b.low + " C " + b.close + " · " + b.volume));
      svg.appendChild(rect);
    });
    var hiBar = bars.reduce(function (a, b) { return units(b.high) === hi ? b : a; });
    var loBar = bars.reduce(function (a, b) { return units(b.low) === lo ? b : a; });
    svg.appendChild(el("text", { x: 4, y: PAD - 6, "class": "tick" }, hiBar.high));
    svg.appendChild(el("text", { x: 4, y: H - 10, "class": "tick" }, loBar.low));
  }

  function drawTables(data) {
    ["best_bid", "best_ask", "last"].forEach(function (k) {
      var node = document.getElementById(k.replace("_", "-"));
      if (node) { node.textContent = data[k] ? yuan(data[k]) : "—"; }
    });
    var book = document.getElementById("book");
    if (book) {
      clear(book);
      var n = Math.max(data.depth.bids.length, data.depth.asks.length);
      if (!n) { emptyRow(book, 4, config.dataset.labelEmptyBook); }
      for (var i = 0; i < n; i++) {
        var b = data.depth.bids[i] || {}, a = data.depth.asks[i] || {};
        var tr = document.createElement("tr");
        cell(tr, b.qty, "num"); cell(tr, yuan(b.price), "num bid"); cell(tr, yuan(a.price), "num ask"); cell(tr, a.qty, "num");
        book.appendChild(tr);
      }
    }
    var tape = document.getElementById("tape");
    if (tape) {
      clear(tape);
      if (!data.trades.length) { emptyRow(tape, 4, config.dataset.labelNoTrades); }
      data.trades.forEach(function (t) {
        var tr = document.createElement("tr");
        cell(tr, t.number, "num"); cell(tr, yuan(t.price), "num"); cell(tr, t.qty, "num"); cell(tr, localTime(t.executed_at));
        tape.appendChild(tr);
      });
    }
    var own = document.getElementById("own-orders");
    if (own) {
      clear(own);
      if (!data.orders.length) { emptyRow(own, 7, config.dataset.labelNone); }
      var token = document.querySelector("[name=csrfmiddlewaretoken]");
      data.orders.forEach(function (o) {
        var tr = document.createElement("tr");
        tr.dataset.order = o.id;
        cell(tr, o.id, "num"); cell(tr, o.side_display); cell(tr, o.price ? yuan(o.price) : config.dataset.labelMarket, "num"); cell(tr, o.qty, "num");
        cell(tr, o.filled_qty, "num"); cell(tr, o.status_display);
        var td = cell(tr, "");
        if (o.cancellable && token) {
          var form = document.createElement("form");
          form.method = "post";
          form.className = "inline";
          form.action = config.dataset.cancelUrl.replace("/0/", "/" + o.id + "/");
          [["csrfmiddlewaretoken", token.value], ["next", config.dataset.next]].forEach(function (kv) {
            var input = document.createElement("input");
            input.type = "hidden"; input.name = kv[0]; input.value = kv[1];
            form.appendChild(input);
          });
          var button = document.createElement("button");
          button.type = "submit"; button.className = "danger"; button.textContent = config.dataset.labelCancel;
          form.appendChild(button);
          td.appendChild(form);
        }
        own.appendChild(tr);
      });
    }
  }

  function draw(data) { drawDepth(data.depth); drawPrice(data.bars); drawTables(data); }

  function load() {
    return fetch(config.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(data); } });
  }

  var data = JSON.parse(initial.textContent);
  drawDepth(data.depth);
  drawPrice(data.bars);
  window.SuanliLive.start(load, config.dataset.eventsUrl);
}());
