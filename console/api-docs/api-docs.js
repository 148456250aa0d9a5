// The API reference page: Swagger UI (swagger-ui-dist, copied here by console/build.mjs)
// on the server's own document. No validator badge: it would call another host.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
