/* The console's only script besides htmx: focus follows the work, flashes are announced,
   posting forms show that they are busy, and "copy link" buttons copy. No inline script
   anywhere (the Content-Security-Policy forbids it); everything here is an enhancement and
   every form works without it. */
(function () {
  "use strict";

  var FIELDS = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])";

  function focusable(element) {
    if (!element.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(element.tagName)) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus({ preventScroll: false });
  }

  // Copy new flash messages into the page's permanent live region: a region that arrives with
  // the swap itself is often not read out, one that was already there is.
  function announce(root) {
    var region = document.getElementById("announcer");
    if (!region) return;
    var messages = [];
    (root || document).querySelectorAll(".flash").forEach(function (flash) {
      messages.push(flash.textContent.trim());
    });
    if (messages.length) {
      region.textContent = "";
      window.setTimeout(function () { region.textContent = messages.join(" "); }, 50);
    }
  }

  // After a swap, move focus to what the swap brought: the first invalid field, else the
  // first field of a form, else the panel's heading. List refreshes (#results) keep focus
  // where it is, so typing in a filter box is never interrupted.
  function focusSwapped(target) {
    if (!target || !document.contains(target)) {
      target = document.getElementById("action-panel");
    }
    if (!target || target.id === "results" || target.closest("#results")) return;
    // A whole page reloaded in place (after an action): start from its heading.
    if (target.id === "main") {
      var title = target.querySelector("h1");
      if (title) focusable(title);
      return;
    }
    var invalid = target.querySelector("[aria-invalid=true]");
    var form = target.querySelector("form");
    var confirmation = target.querySelector("input[name=confirmed][value=yes]");
    var field = form && !confirmation ? form.querySelector(FIELDS) : null;
    var heading = target.querySelector("h1, h2");
    var chosen = invalid || field || heading;
    if (chosen) focusable(chosen);
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target ? event.detail.target : event.target;
    announce(target);
    focusSwapped(target);
  });

  // Buttons of a posting form are disabled until the answer arrives, so a double click is
  // one request and the person sees that it is under way.
  function setBusy(form, busy) {
    if (!form) return;
    form.setAttribute("aria-busy", busy ? "true" : "false");
    form.querySelectorAll("button").forEach(function (button) { button.disabled = busy; });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      setBusy(elt.closest ? elt.closest("form") : null, true);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    setBusy(elt.closest ? elt.closest("form") : null, false);
  });
  // Without htmx (or for plain forms) the page is replaced anyway: disable after the
  // browser has read the pressed button's name and value.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method.toLowerCase() !== "post" || form.hasAttribute("hx-post")) return;
    window.setTimeout(function () { setBusy(form, true); }, 0);
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[aria-busy=true]").forEach(function (form) { setBusy(form, false); });
  });

  // A saved filter is the list's query string now, which htmx may have changed since the page loaded.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-saved-filter")) return;
    form.querySelector("input[name=query_string]").value = window.location.search.replace(/^\?/, "");
  }, true);

  // A preset reason fills the reason field; it can still be edited.
  document.addEventListener("click", function (event) {
    var preset = event.target.closest ? event.target.closest("[data-reason]") : null;
    if (!preset) return;
    var field = preset.closest("form").querySelector("input[name=reason]");
    if (field) { field.value = preset.getAttribute("data-reason"); field.focus(); }
  });

  // "Copy link" buttons copy the page's address; the link itself stays visible for copying by hand.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var done = button.getAttribute("data-copied");
      if (done) {
        button.textContent = done;
        var region = document.getElementById("announcer");
        if (region) region.textContent = done;
      }
    });
  });

  document.addEventListener("DOMContentLoaded", function () { announce(document.getElementById("messages")); });
})();
