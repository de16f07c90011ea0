// xavyo console: the only script. Refreshes the status and progress of active runs and
// operations from their JSON endpoint (reloading the page when they finish), and wires
// "select all" checkboxes. Every page works without it (a <noscript> refresh stands in).
(function () {
  "use strict";
  var ACTIVE = { queued: true, running: true, pending: true, in_progress: true, retrying: true };

  function each(root, selector, fn) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), fn);
  }

  function update(node, doc) {
    each(node, "[data-field=status]", function (el) {
      el.textContent = doc.status;
      el.className = "status status-" + doc.status;
    });
    if (!doc.progress) { return; }
    var processed = doc.progress.processed, total = doc.progress.total;
    each(node, "progress[data-field=progress]", function (el) {
      if (total) { el.max = total; el.value = processed; }
    });
    each(node, "[data-field=processed]", function (el) {
      el.textContent = total ? processed + " / " + total : String(processed);
    });
  }

  function poll(node) {
    var url = node.getAttribute("data-poll-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (doc) {
        update(node, doc);
        if (ACTIVE[doc.status]) {
          window.setTimeout(function () { poll(node); }, 1000);
        } else if (node.hasAttribute("data-reload-when-done")) {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(function () { poll(node); }, 5000); });
  }

  each(document, "[data-poll-url]", function (node) {
    window.setTimeout(function () { poll(node); }, 1000);
  });

  each(document, "input[data-select-all]", function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-select-all");
      each(box.form || document, "input[type=checkbox][name='" + name + "']", function (el) {
        if (!el.disabled) { el.checked = box.checked; }
      });
    });
  });
})();
