// Starts Swagger UI on /docs (app/routes/docs.py): a file, not an inline script, so the page's
// Content-Security-Policy needs no 'unsafe-inline'. No validator badge: it would call an outside host.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
