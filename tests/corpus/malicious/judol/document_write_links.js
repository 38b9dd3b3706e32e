document.write('<div style="display:none"><a href="https://bandar-slot.online/">slot gacor</a><a href="https://rtp-live.fun/">rtp live</a></div>');
