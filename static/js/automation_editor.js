// The automation editor: show only the conditions that fit the chosen trigger. Hidden ones
// are disabled, so they are not sent; without this script every condition shows, and the
// server says which do not fit.
(function () {
  "use strict";
  var trigger = document.querySelector(".automation-form select[name=trigger]");
  if (!trigger) return;
  var conditions = document.querySelectorAll(".automation-form .condition");

  function update() {
    conditions.forEach(function (condition) {
      var fits = (condition.getAttribute("data-fits") || "").split(" ");
      var shown = fits.indexOf(trigger.value) !== -1;
      condition.hidden = !shown;
      condition.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
    });
  }

  trigger.addEventListener("change", update);
  update();
})();
