"""The machinery every request crosses before and after the routes: the front layer, the server
protocol, size limits, caches, the access log, metrics, error responses and the public base URL.
It knows nothing of Kubernetes: the domain (app.params, app.settings, app.rendering) lives above."""
