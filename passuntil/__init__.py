"""PassUntil (Hu et al. 2024): massive sampling until r passes, exact estimators, a sandbox for code."""
