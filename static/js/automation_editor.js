// The automation editor: show only the conditions that fit the chosen trigger. Hidden ones
// are disabled, so they are not sent; without this script every condition shows, and the
// server says which do not fit.
(function () {
  "use strict";
  var trigger = document.querySelector(".automation-form select[name=trigger]");
  if (!trigger) return;
  var conditions = document.querySelectorAll(".automation-form .condition");
  var intro = document.querySelector(".automation-form .conditions > p");

  function update() {
    var any = false;
    conditions.forEach(function (condition) {
      var fits = (condition.getAttribute("data-fits") || "").split(" ");
      var shown = fits.indexOf(trigger.value) !== -1;
      condition.hidden = !shown;
      condition.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
      any = any || shown;
    });
    // "Condition (optional): ..." heads the conditions that fit; with none (no event chosen yet,
    // or one without conditions) it would stand alone over nothing.
    if (intro) intro.hidden = !any;
  }

  trigger.addEventListener("change", update);
  update();
})();

// One click, one request: a second click before the next page arrives (a double-click on
// "Send a test" sent two tests) does nothing. The buttons are disabled only after the form's
// data is taken, which keeps the clicked button's name and value in it.
(function () {
  "use strict";
  var form = document.querySelector(".automation-form");
  if (!form) return;
  var buttons = form.querySelectorAll("button[type=submit]");

  form.addEventListener("submit", function (event) {
    if (form.hasAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "");
    setTimeout(function () { buttons.forEach(function (button) { button.disabled = true; }); }, 0);
  });
  // Back to this page from the next one: it may be shown as it was left.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    form.removeAttribute("data-sent");
    buttons.forEach(function (button) { button.disabled = false; });
  });
})();
