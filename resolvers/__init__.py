"""Query and mutation logic per node family, and the per-request DataLoaders."""
