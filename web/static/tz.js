// Tells heed the browser's time zone (a cookie), so that times are shown in it.
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) { return; }
  var m = document.cookie.match(/(?:^|; )tz=([^;]*)/);
  if (m && decodeURIComponent(m[1]) === zone) { return; }
  document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Strict";
  var shown = document.body ? document.body.getAttribute("data-zone") : zone;
  if (shown !== zone && !/[?&]tz=/.test(location.search) && document.cookie.indexOf("tz=") >= 0) {
    location.reload();
  }
})();
