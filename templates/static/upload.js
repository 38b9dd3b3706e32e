/* Upload forms: show how much of a large bundle has been sent. A form opts in with
   data-upload-progress="<label>" (and data-upload-failed="<message>"); both texts come from the page,
   so they are in the reader's language. Without this script the form posts as usual. */
(function () {
  "use strict";
  if (!window.FormData || !window.XMLHttpRequest) {
    return;
  }

  function track(form) {
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.hidden = true;
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    form.appendChild(progress);
    form.appendChild(status);
    var label = form.getAttribute("data-upload-progress");
    progress.setAttribute("aria-label", label);
    var failed = form.getAttribute("data-upload-failed") || "";
    var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");

    function busy(on) {
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].disabled = on;  // one upload at a time: a second click would post the bundle twice
      }
      progress.hidden = !on;
    }

    function fail(detail) {
      busy(false);
      status.className = "flash flash-error";
      status.textContent = failed + (detail ? " (" + detail + ")" : "");
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (document.querySelector("meta[http-equiv=refresh]")) {
        // A page that follows a running job reloads itself every few seconds, which would drop the
        // upload unseen (a normal post cancels the reload; an XMLHttpRequest does not): stop it first.
        window.stop();
      }
      var request = new XMLHttpRequest();
      request.open(form.method || "post", form.action);
      request.upload.addEventListener("progress", function (sent) {
        if (sent.lengthComputable) {
          var percent = Math.floor(sent.loaded * 100 / sent.total);
          progress.value = percent;
          status.className = "";
          status.textContent = label + " " + percent + "%";
        }
      });
      request.addEventListener("load", function () {
        if (request.responseText) {
          // The panel's answer replaces this page, as a normal form post's would: after its redirect,
          // the page it redirected to with its flash messages, or the page saying what was refused
          // (a form error, a file too large) in the reader's language.
          window.history.replaceState(null, "", request.responseURL || form.action);
          document.open();
          document.write(request.responseText);
          document.close();
        } else {
          fail("HTTP " + request.status);
        }
      });
      request.addEventListener("error", function () { fail(""); });
      request.addEventListener("abort", function () { fail(""); });
      busy(true);
      status.className = "";
      status.textContent = label + " 0%";
      request.send(new FormData(form));
    });
  }

  var forms = document.querySelectorAll("form[data-upload-progress]");
  for (var i = 0; i < forms.length; i++) {
    track(forms[i]);
  }
}());
