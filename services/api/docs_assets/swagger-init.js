// Starts Swagger UI on /docs from the settings the page carries in #duban-docs (JSON): the
// page's Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("duban-docs").textContent);
  var options = Object.assign({}, config.parameters, {
    url: config.openapi_url,
    oauth2RedirectUrl: window.location.origin + config.oauth2_redirect_url,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    // No badge that would ask validator.swagger.io about the schema.
    validatorUrl: null,
  });
  window.ui = SwaggerUIBundle(options);
})();
