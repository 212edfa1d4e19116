"""Market data: the canonical on-disk layout and its event stream, the importer, the synthetic
market, and the rolling per-symbol history. May import strategies (pure) and the vocabulary."""
