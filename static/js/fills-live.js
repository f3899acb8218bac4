/* The fills page, live: when the organisation's orders change (live.js: pushed, else every 2 s)
   it fetches itself again — the same filter and page — and, if the fills shown differ, puts the
   server's rows and page links in place of its own. New rows are highlighted and counted to
   screen readers through the page's aria-live region — on the first page only: on a later page
   a row that appears was pushed down from the page before, not new. The rows are the server's,
   drawn by the same template as on the first load: nothing is formatted here. Without
   JavaScript the page is the same, static. */
(function () {
  "use strict";
  var config = document.getElementById("fills-live");
  var table = document.getElementById("fills");
  if (!config || !table || !window.fetch || !window.DOMParser) { return; }
  var announce = document.getElementById("fills-announce");
  var page = window.URLSearchParams ? new URLSearchParams(window.location.search).get("page") : null;
  var firstPage = !page || page === "1";

  function keys(root) {
    return Array.prototype.map.call(root.querySelectorAll("#fills tr[data-fill]"), function (r) { return r.dataset.fill; });
  }
  function swap(selector, fresh) {
    var mine = document.querySelector(selector);
    var theirs = fresh.querySelector(selector);
    if (mine && theirs) { mine.replaceWith(document.importNode(theirs, true)); }
  }

  function load() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var shown = keys(document), now = keys(fresh);
        if (!fresh.querySelector("#fills tbody") || shown.join() === now.join()) { return; }
        swap("#fills tbody", fresh);
        swap("#fills-pages", fresh);
        if (!firstPage) { return; }
        var added = 0;
        table.querySelectorAll("tr[data-fill]").forEach(function (row) {
          if (shown.indexOf(row.dataset.fill) < 0) { row.classList.add("flash"); added += 1; }
        });
        if (added && announce) { announce.textContent = config.dataset.labelNew.replace("{n}", added); }
      });
  }

  window.SuanliLive.start(load, config.dataset.eventsUrl);
}());
