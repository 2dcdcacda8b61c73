// The Events page: while a delivery is still on its way (pending, retrying, sending), fetch the
// list again every few seconds and swap it in, so that statuses change without a reload.
(function () {
  "use strict";
  var box = document.getElementById("events-live");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var delay = 2000;
  // A retry can be hours away: stop after a while, and start again when the tab comes back.
  var stopAt = Date.now() + 10 * 60000;

  function live() {
    var marker = box.querySelector("[data-live]");
    return marker && marker.getAttribute("data-live") === "true";
  }

  function refresh() {
    if (!live() || Date.now() > stopAt || document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        // Swap only when something changed, so that focus and text selection stay put otherwise.
        if (html.trim() !== box.innerHTML.trim()) box.innerHTML = html;
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () {
        delay = Math.min(delay * 1.2, 5000);
        setTimeout(refresh, delay);
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { stopAt = Date.now() + 10 * 60000; delay = 2000; setTimeout(refresh, 0); }
  });
  setTimeout(refresh, delay);
})();
