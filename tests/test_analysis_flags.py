"""Contract flags on fits (docs/CONTRACTS.md, "Flags on fits"): a loss law whose exponent ends at its
optimiser bound says so, in the point fit (`at_bound`) and as a share of bootstrap refits
(`bootstrap_at_bound`); a well-posed fit carries no such flag; flags round-trip and print."""
from __future__ import annotations

import numpy as np

from analysis.loss_law import EXPONENT_BOUNDS, LossLawModel, LossVsSizeModel
from analysis.results import LossLawResults

N = np.repeat([1e7, 3e7, 1e8, 3e8], 3)
D = np.tile([1e9, 3e9, 1e10], 4)


def test_exponent_at_its_bound_is_flagged_in_the_point_fit_and_the_refits():
    # Loss falls with D as D^-3: steeper than the bound (2.5) allows, so beta must stop there.
    L = 1.8 + 400 / N ** 0.34 + 0.05 * (1e10 / D) ** 3.0
    law = LossLawResults.from_fit(LossLawModel(N, D, L, n_boot=20).fit())
    codes = {(f["code"], f["message"].split()[0]) for f in law.flags}
    assert ("at_bound", "beta") in codes and ("bootstrap_at_bound", "beta") in codes, law.flags
    share = next(f["share"] for f in law.flags if f["code"] == "bootstrap_at_bound" and f["parameter"] == "beta")
    draws = np.asarray(law.draws)[:, 4]
    assert share == np.mean(np.isclose(draws, EXPONENT_BOUNDS[1])) > 0.5
    assert all(set(f) >= {"code", "message"} for f in law.flags)
    again = LossLawResults.from_dict(law.to_dict())
    assert again.flags == law.flags and law.to_dict()["flags"] == law.flags
    assert "flag at_bound: beta" in law.summary()


def test_a_well_posed_fit_has_no_bound_flag_and_old_files_still_read():
    rng = np.random.default_rng(1)
    L = (1.8 + 400 / N ** 0.34 + 900 / D ** 0.3) * np.exp(rng.normal(0, 0.003, len(N)))
    law = LossLawResults.from_fit(LossLawModel(N, D, L, n_boot=20).fit())
    assert not [f for f in law.flags if f["code"] == "at_bound"], law.flags
    size = LossLawResults.from_fit(LossVsSizeModel(N, 1.8 + (3e7 / N) ** 0.3, n_boot=20).fit())
    assert size.flags == [] and "flag" not in size.summary()
    old = law.to_dict()
    old.pop("flags")
    assert LossLawResults.from_dict(old).flags == []


def test_a_vanishing_irreducible_loss_is_flagged():
    # No floor in the data (E = 0): E, fitted as log E, runs towards 0, its natural bound, as on the tiny preset.
    L = 400 / N ** 0.34 + 900 / D ** 0.3
    law = LossLawResults.from_fit(LossLawModel(N, D, L, n_boot=20).fit())
    assert law.params["E"] < 1e-4 * L.min()
    assert any(f["code"] == "at_bound" and f["message"].startswith("E = ") for f in law.flags), law.flags
    assert "flag at_bound: E" in law.summary()
