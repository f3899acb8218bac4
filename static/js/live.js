/* Live pages: what a page shows is fetched again when the server says it changed (server-sent
   events from /live/events, see marketplace/live.py), and every 2 seconds where there is no such
   stream. SuanliLive.start(load, eventsUrl): load() fetches and draws, returning a promise; it
   never runs twice at once (events during a fetch make one more fetch after it); with the stream
   open, the timer fetches only every 15 s, in case an event was missed; a hidden tab fetches
   nothing and catches up when shown. <html data-live> says which: "push" or "poll". */
(function () {
  "use strict";
  var SAFETY_MS = 15000, POLL_MS = 2000, AFTER_MS = 250;
  window.SuanliLive = {
    start: function (load, eventsUrl) {
      var streaming = false, busy = false, again = false, last = 0;
      var root = document.documentElement;
      function mode(on) { streaming = on; root.dataset.live = on ? "push" : "poll"; }
      function refresh(force) {
        if (document.hidden) { return; }
        if (!force && streaming && Date.now() - last < SAFETY_MS) { return; }
        if (busy) { again = true; return; }
        busy = true;
        last = Date.now();
        Promise.resolve().then(load).catch(function () { /* the next refresh tries again */ }).then(function () {
          busy = false;
          if (again) { again = false; window.setTimeout(function () { refresh(true); }, AFTER_MS); }
        });
      }
      mode(false);
      if (eventsUrl && window.EventSource) {
        var source = new EventSource(eventsUrl);
        source.onopen = function () { mode(true); };
        source.onerror = function () { mode(false); }; // it reconnects by itself, unless it was told 204
        source.addEventListener("change", function () { refresh(true); });
      }
      document.addEventListener("visibilitychange", function () { refresh(true); });
      window.setInterval(function () { refresh(false); }, POLL_MS);
    }
  };
}());
