"""Fits for the loss perspective and PassUntil: each law a model whose .fit() returns a results object
with params, conf_int(), predict() with intervals, summary() and to_json(), in the statsmodels manner.

- loss_curve: performance vs pre-training loss per task (threshold/jump/smooth, collapse test)
- loss_law:   L(N, D) = E + A/N^alpha + B/D^beta, and L(N) at fixed D with the size threshold N*
- task_law:   PU(N) = exp(-c N^-alpha), dataset level and instance level (IPU)
- emergence:  the shape of F(N) = log(-log PU): curvature, multi-step vs multiple circuits
- predict:    (N, D) -> loss -> task performance and PU, before training
"""
