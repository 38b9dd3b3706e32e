<?php get_footer(); ?>
<div style="display:none">
<a href="https://slot-gacor-maxwin.vip/">slot gacor</a>
<a href="https://togel88.site/">togel online</a>
<a href="https://situs-toto.fun/">situs toto</a>
</div>
