/* Statistik pengunjung portal: dari mana pengunjung datang dan perangkat apa yang dipakai. */
(function () {
  var referrer = document.referrer || "";
  var source = "langsung";
  if (/google\.|bing\.|yahoo\./i.test(referrer)) {
    source = "mesin-pencari";
  } else if (referrer) {
    source = "tautan";
  }
  var mobile = /Android|iPhone|iPad|Mobi/i.test(navigator.userAgent);
  var data = "s=" + encodeURIComponent(source) + "&m=" + (mobile ? 1 : 0) +
    "&p=" + encodeURIComponent(location.pathname);
  if (navigator.sendBeacon) {
    navigator.sendBeacon("/statistik/kunjungan", data);
  } else {
    new Image().src = "/statistik/kunjungan.gif?" + data;
  }
  document.querySelectorAll("a.keluar").forEach(function (link) {
    link.addEventListener("click", function () {
      window.location.href = "/keluar?ke=" + encodeURIComponent(link.href);
    });
  });
})();
