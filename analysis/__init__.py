"""Fits for the loss perspective and PassUntil: each law a model whose .fit() returns a results object
with params, conf_int(alpha), predict(x, alpha) with prediction intervals, summary() and
to_dict()/from_dict(), in the statsmodels manner.

- curve_family: bounded sigmoid/hinge/jump/line curves of performance vs loss, chosen by held-out error
- loss_curve: performance vs pre-training loss per task (prediction curve, emergence test, collapse test)
- loss_law:   L(N, D) = E + A/N^alpha + B/D^beta, and L(N) at fixed D with the size threshold N*
- task_law:   PU(N) = exp(-c N^-alpha), dataset level and instance level (IPU)
- emergence:  the shape of F(N) = log(-log PU): curvature, multi-step vs multiple circuits
- predict:    (N, D) -> loss -> task performance and PU, before training, on loaded results
- preprocess: --where, --skip-first, --smooth, --last, globs
- convert:    other labs' ladders into the eval table (Gadre et al. 2024)
"""
