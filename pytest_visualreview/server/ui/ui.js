/* Review pages: keyboard actions on top of the shared viewer (viewer.js, loaded first).
 * a approve, r reject, t tolerate the current snapshot: each submits that snapshot's own form,
 * so keys do exactly what the buttons do (same CSRF token, same server checks). After an action
 * the server redirects to #s-<next snapshot>, which becomes the current one here.
 */
(function () {
  "use strict";
  var VR = window.VisualReview;
  if (!VR) return;

  function status(text) {
    var box = document.querySelector(".ui-status");
    if (!box) {
      box = document.createElement("div");
      box.className = "ui-status";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = text;
    window.clearTimeout(status.timer);
    status.timer = window.setTimeout(function () { box.textContent = ""; }, 3000);
  }

  function act(name) {
    return function (item) {
      item = item || VR.next();
      if (!item) return;
      var form = item.querySelector('form[data-action="' + name + '"]');
      if (!form) {
        status("cannot " + name + " this snapshot here");
        return;
      }
      form.requestSubmit();
    };
  }

  VR.bindKey("a", act("approve"));
  VR.bindKey("r", act("reject"));
  VR.bindKey("t", act("tolerate"));

  var hash = window.location.hash;
  if (hash && hash.indexOf("#s-") === 0) {
    var target = document.getElementById(hash.slice(1));
    if (target) {
      var details = target.closest("details");
      if (details) details.open = true;
      VR.select(target);
    }
  }
})();
