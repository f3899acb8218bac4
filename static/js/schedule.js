// "Schedule for me": while a demand waits for a scheduling round, ask every 2 s whether it moved
// on, and show the page again (with the proposal) when it has. No framework: a fetch and a reload.
(function () {
  const status = document.getElementById("demand-status");
  if (!status || status.dataset.status !== "submitted") return;
  const url = status.dataset.live;
  const timer = setInterval(function () {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d && d.status !== "submitted") { clearInterval(timer); window.location.reload(); }
      })
      .catch(function () {});
  }, 2000);
})();
