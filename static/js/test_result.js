// The "Send a test" page: polls the result until the worker has recorded the outcome, and
// keeps the Send button disabled meanwhile, so that one click sends one test.
(function () {
  "use strict";
  var button = document.querySelector(".test-form button[type=submit]");
  var form = document.querySelector(".test-form");
  if (form && button) form.addEventListener("submit", function () { button.disabled = true; });
  var box = document.getElementById("test-result");
  if (!box) return;
  var url = box.getAttribute("data-poll-url");
  var delay = 300;
  var deadline = Date.now() + 60000;

  function done() {
    var result = box.querySelector("[data-done]");
    return result && result.getAttribute("data-done") === "true";
  }

  function settle() {
    if (button) button.disabled = false;
  }

  function poll() {
    if (done() || Date.now() > deadline) return settle();
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* try again on the next tick */ })
      .then(function () {
        delay = Math.min(delay * 1.5, 2000);
        setTimeout(poll, delay);
      });
  }

  if (!done() && button) button.disabled = true;
  setTimeout(poll, delay);
})();
