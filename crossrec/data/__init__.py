"""The floor: item vocabulary, per-domain data, sparse matrices and mart paths (no model code)."""
