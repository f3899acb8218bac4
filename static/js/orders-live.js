/* The orders page, live: fetches orders/live.json whenever the organisation's orders change
   (live.js: pushed, else every 2 s; the same filter and page the page was drawn with) and
   updates each order's filled units, average price, status and cancel button in place, and the
   recent fills. A new fill highlights its order's row and is announced to screen
   readers through the page's aria-live region. Without JavaScript the page is the same, static.
   Amounts arrive as strings already written as the page writes them (¥1,234.5000): no float. */
(function () {
  "use strict";
  var config = document.getElementById("orders-live");
  var table = document.getElementById("orders");
  if (!config || !table || !window.fetch) { return; }
  var announce = document.getElementById("orders-announce");
  var fillsBody = document.querySelector("#fills tbody");

  function say(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, key) { return key in values ? values[key] : all; });
  }
  function cellOf(row, field) { return row.querySelector('[data-field="' + field + '"]'); }
  function flash(row) {
    row.classList.remove("flash");
    void row.offsetWidth; // restart the animation
    row.classList.add("flash");
  }

  function updateOrders(orders) {
    var messages = [];
    orders.forEach(function (o) {
      var row = table.querySelector('tr[data-order="' + o.id + '"]');
      if (!row) { return; }
      var before = parseInt(row.dataset.filled, 10);
      if (o.filled_qty !== before) {
        cellOf(row, "filled").textContent = o.filled_qty;
        cellOf(row, "average").textContent = o.average_price_display;
        row.dataset.filled = o.filled_qty;
        if (o.filled_qty > before) {
          flash(row);
          messages.push(say(config.dataset.labelFilled, { id: o.id, filled: o.filled_qty, qty: o.qty }));
        }
      }
      if (o.status !== row.dataset.status) {
        var status = cellOf(row, "status");
        status.textContent = o.status_display;
        if (o.end_reason_display) {
          var reason = document.createElement("small");
          reason.className = "muted";
          reason.textContent = " (" + o.end_reason_display + ")";
          status.appendChild(document.createTextNode(" "));
          status.appendChild(reason);
        }
        row.dataset.status = o.status;
        if (o.filled_qty === before) { messages.push(say(config.dataset.labelStatus, { id: o.id, status: o.status_display })); }
      }
      if (!o.cancellable) {
        var action = cellOf(row, "action");
        if (action && action.firstChild) { action.textContent = ""; }
      }
    });
    if (messages.length && announce) { announce.textContent = messages.join(" "); }
  }

  function updateFills(fills) {
    if (!fillsBody) { return; }
    var shown = Array.prototype.map.call(fillsBody.querySelectorAll("tr[data-fill]"), function (r) { return r.dataset.fill; });
    var fresh = fills.map(function (f) { return f.instrument + "#" + f.number; });
    if (shown.join() === fresh.join()) { return; }
    while (fillsBody.firstChild) { fillsBody.removeChild(fillsBody.firstChild); }
    if (!fills.length) {
      var empty = document.createElement("tr");
      var td = document.createElement("td");
      td.colSpan = 7; td.className = "empty"; td.textContent = config.dataset.labelNoFills;
      empty.appendChild(td); fillsBody.appendChild(empty);
      return;
    }
    fills.forEach(function (f) {
      var tr = document.createElement("tr");
      tr.dataset.fill = f.instrument + "#" + f.number;
      [[f.executed_at], [f.instrument, "code"], [f.number, "num"], [f.side_display], [f.price_display, "num"], [f.qty, "num"], [f.order, "num"]]
        .forEach(function (c) {
          var cell = document.createElement("td");
          if (c[1] === "code") {
            var code = document.createElement("code"); code.textContent = c[0]; cell.appendChild(code);
          } else {
            cell.textContent = c[0];
            if (c[1]) { cell.className = c[1]; }
          }
          tr.appendChild(cell);
        });
      if (shown.indexOf(tr.dataset.fill) < 0) { tr.className = "flash"; }
      fillsBody.appendChild(tr);
    });
  }

  function load() {
    return fetch(config.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { updateOrders(data.orders); updateFills(data.fills); } });
  }

  window.SuanliLive.start(load, config.dataset.eventsUrl);
}());
