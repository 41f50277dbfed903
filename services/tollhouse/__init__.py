"""Tollhouse: an API gateway, a dashboard and an analytics pump."""

__version__ = "0.1.0"
