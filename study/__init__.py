"""`emergent study`: the whole loss-perspective study, end to end, on an embedded default."""
