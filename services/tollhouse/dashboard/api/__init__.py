"""The user-facing REST API under ``/api`` (one module per resource) and the gateways' ``/system`` API."""
