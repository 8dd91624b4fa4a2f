"""The loss laws' formulas, shared by their models (loss_law.py) and their saved results (results.py), so that
neither imports the other."""
from __future__ import annotations

import numpy as np


def loss_law(natural, N, D):
    """L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al.)."""
    E, A, alpha, B, beta = natural
    return E + A / np.power(N, alpha) + B / np.power(D, beta)


def loss_vs_size(natural, N):
    """L(N) = L_inf + (N0 / N)^alpha at a fixed budget."""
    L_inf, N0, alpha = natural
    return L_inf + np.power(N0 / np.asarray(N, float), alpha)
