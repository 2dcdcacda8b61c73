// The Webhooks page: each card's Test button sends a test and shows the result in the card;
// the search box filters the cards as one types (the form still searches without script).
(function () {
  "use strict";

  function poll(url, box, button, label, deadline) {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        box.innerHTML = html;
        var result = box.querySelector("[data-done]");
        if (result && result.getAttribute("data-done") === "true") {
          button.disabled = false;
          button.textContent = label;
        } else if (Date.now() < deadline) {
          setTimeout(function () { poll(url, box, button, label, deadline); }, 700);
        } else {
          button.disabled = false;
          button.textContent = label;
        }
      })
      .catch(function () {
        if (Date.now() < deadline) setTimeout(function () { poll(url, box, button, label, deadline); }, 1500);
        else { button.disabled = false; button.textContent = label; }
      });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-inline-test]"), function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      if (button.disabled) return;
      var box = form.closest(".webhook").querySelector("[data-test-result]");
      var label = button.textContent;
      // Disabled while the test is pending, so that one click sends one test.
      button.disabled = true;
      button.textContent = button.getAttribute("data-busy-label");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" }
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (answer) {
          if (!answer.ok) throw new Error(answer.data.error);
          poll(answer.data.fragment, box, button, label, Date.now() + 60000);
        })
        .catch(function (error) {
          var message = document.createElement("p");
          message.className = "card-outcome bad";
          message.textContent = (error && error.message) || button.getAttribute("data-error-label");
          box.replaceChildren(message);
          button.disabled = false;
          button.textContent = label;
        });
    });
  });

  var search = document.querySelector("input[data-filter-list]");
  if (search) {
    var status = document.querySelector("[data-filter-status]");
    search.addEventListener("input", function () {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(document.querySelectorAll(search.getAttribute("data-filter-list")), function (card) {
        var text = (card.getAttribute("data-search") || "").toLowerCase();
        var match = words.every(function (word) { return text.indexOf(word) !== -1; });
        card.hidden = !match;
        if (match) shown += 1;
      });
      if (status) status.textContent = shown ? "" : status.getAttribute("data-none");
    });
  }
})();
