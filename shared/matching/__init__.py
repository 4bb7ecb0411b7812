"""Probabilistic person matching (docs/matching.md): blocking keys, field comparisons,
Fellegi–Sunter weights estimated by EM. Pure functions over `Profile`s; storage lives in
`shared.store.matchindex`, the service in `shared.services.matching`."""
