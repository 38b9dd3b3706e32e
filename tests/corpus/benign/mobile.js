window.dataLayer = window.dataLayer || [];
function gtag(){dataLayer.push(arguments);}
gtag('js', new Date());
gtag('config', 'G-XXXXXXX'); // google analytics
if (/Android|iPhone|iPad/i.test(navigator.userAgent) && !sessionStorage.getItem('desktop')) {
  window.location.href = 'https://m.example.go.id/';
}
