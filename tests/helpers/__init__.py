"""Plain helper modules the suites import (builders, servers, request helpers).

Fixtures live in conftest files and nothing imports a conftest; what a test calls by name
lives here or in `tests/factories.py` (docs/development.md, "Tests").
"""
