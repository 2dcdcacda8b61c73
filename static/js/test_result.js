// Polls the test result until the worker has recorded the outcome.
(function () {
  "use strict";
  var box = document.getElementById("test-result");
  if (!box) return;
  var url = box.getAttribute("data-poll-url");
  var delay = 300;
  var deadline = Date.now() + 60000;

  function done() {
    var result = box.querySelector("[data-done]");
    return result && result.getAttribute("data-done") === "true";
  }

  function poll() {
    if (done() || Date.now() > deadline) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* try again on the next tick */ })
      .then(function () {
        delay = Math.min(delay * 1.5, 2000);
        setTimeout(poll, delay);
      });
  }

  setTimeout(poll, delay);
})();
