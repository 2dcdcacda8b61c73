// Every page: the Actions menus (one open at a time, closed by Escape or a click elsewhere,
// arrow keys between items) and the Copy buttons. No inline script: the CSP forbids it.
(function () {
  "use strict";

  function menus() { return Array.prototype.slice.call(document.querySelectorAll("details.actions")); }
  function items(menu) { return Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]")); }

  function close(menu, focusSummary) {
    if (!menu.open) return;
    menu.open = false;
    if (focusSummary) menu.querySelector("summary").focus();
  }

  function move(menu, step) {
    var list = items(menu);
    var at = list.indexOf(document.activeElement);
    var next = step === "first" ? 0 : step === "last" ? list.length - 1 : (at + step + list.length) % list.length;
    if (list[next]) list[next].focus();
  }

  menus().forEach(function (menu) {
    var summary = menu.querySelector("summary");
    summary.setAttribute("aria-expanded", "false");
    menu.addEventListener("toggle", function () {
      summary.setAttribute("aria-expanded", menu.open ? "true" : "false");
      menu.closest(".webhook") && menu.closest(".webhook").classList.toggle("menu-open", menu.open);
      if (!menu.open) return;
      menus().forEach(function (other) { if (other !== menu) close(other, false); });
      move(menu, "first");
    });
    summary.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!menu.open) { menu.open = true; } else { move(menu, event.key === "ArrowDown" ? "first" : "last"); }
      }
    });
    menu.querySelector("[role=menu]").addEventListener("keydown", function (event) {
      var keys = { ArrowDown: 1, ArrowUp: -1, Home: "first", End: "last" };
      if (event.key in keys) { event.preventDefault(); move(menu, keys[event.key]); }
      else if (event.key === "Escape") { event.preventDefault(); close(menu, true); }
      else if (event.key === "Tab") { close(menu, false); }
    });
  });

  document.addEventListener("click", function (event) {
    menus().forEach(function (menu) { if (!menu.contains(event.target)) close(menu, false); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus().forEach(function (menu) { if (menu.open) close(menu, menu.contains(document.activeElement)); });
  });

  // Copy buttons: <button data-copy="#target" data-copied="Copied" hidden>Copy</button>, shown when
  // this script runs, as they do nothing without it.
  function copyText(text, element) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-HTTP pages have no clipboard API: select the text and use the older command.
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = document.execCommand("copy");
    selection.removeAllRanges();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var label = button.textContent;
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    button.after(status);
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(target.textContent.trim(), target).then(function () {
        button.textContent = button.getAttribute("data-copied");
        status.textContent = button.getAttribute("data-copied");
        setTimeout(function () { button.textContent = label; status.textContent = ""; }, 2000);
      }, function () {
        button.textContent = button.getAttribute("data-failed") || label;
      });
    });
  });
})();
