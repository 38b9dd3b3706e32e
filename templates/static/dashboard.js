/* Dashboard: refresh the step lists in place every 30 seconds. Without this script the page shows
   the same lists and simply needs a reload. The fragment is HTML the panel rendered and escaped. */
(function () {
  "use strict";
  var box = document.querySelector("[data-refresh-url]");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-refresh-url");
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10) || 30;
  // Polls do not renew the session (see panel/security.py), so an unattended tab still signs out.
  var timer = null;
  var signedOut = false;

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        // Sent to the sign-in page: the session ended, so stop rather than show the login form here.
        if (response.redirected) {
          signedOut = true;
          stop();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) {
          box.innerHTML = html;
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }

  function start() {
    if (timer === null && !signedOut && !document.hidden) {
      timer = window.setInterval(refresh, seconds * 1000);
    }
  }

  function stop() {
    if (timer !== null) {
      window.clearInterval(timer);
      timer = null;
    }
  }

  function resume() {
    if (timer === null && !signedOut && !document.hidden) {
      refresh();
      start();
    }
  }

  // A hidden tab does not poll; it catches up as soon as it is shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      stop();
    } else {
      resume();
    }
  });
  start();
}());
