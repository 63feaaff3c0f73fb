// Starts ReDoc on /redoc from the settings the page carries in #duban-docs (JSON). ReDoc
// writes its styles into <style> elements; the nonce lets exactly those past the page's
// Content-Security-Policy.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("duban-docs").textContent);
  Redoc.init(
    config.openapi_url,
    Object.assign({}, config.options, { nonce: config.nonce }),
    document.getElementById("redoc-container")
  );
})();
