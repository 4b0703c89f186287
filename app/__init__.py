"""kubeinit: a service that renders the kubernetes-init installer."""

__version__ = "0.1.0"
