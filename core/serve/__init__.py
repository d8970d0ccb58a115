"""Serve: registry, scoring and answers over stored models (app, CLI, service)."""
