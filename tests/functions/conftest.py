"""Trigger functions called directly, with real azure.functions types: the `functions`
fixture is the root conftest's; the request builders are in tests/helpers/app.py."""
