"""The shared bounded, regularised blendshape solver."""

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from retarget.solver import BlendshapeSolver, SolverSettings


@pytest.fixture
def problem():
    rng = np.random.default_rng(7)
    basis = rng.normal(size=(40, 12))
    weights = rng.uniform(-0.4, 1.4, size=(30, 12))  # some outside [0, 1]: the bounds must bite
    return basis, weights @ basis.T


def test_matches_scipy_bounded_least_squares_frame_by_frame(problem):
    basis, targets = problem
    l2 = 0.05
    ours = BlendshapeSolver(basis, settings=SolverSettings(l2=l2, tolerance=1e-10, max_sweeps=2000)).solve(targets)
    augmented = np.vstack([basis, np.sqrt(l2) * np.eye(12)])
    for frame, target in zip(ours, targets):
        ref = lsq_linear(augmented, np.concatenate([target, np.zeros(12)]), bounds=(0, 1), tol=1e-12).x
        np.testing.assert_allclose(frame, ref, atol=1e-5)


def test_weights_stay_within_bounds(problem):
    basis, targets = problem
    w = BlendshapeSolver(basis, lower=0.0, upper=1.0).solve(targets * 5)
    assert w.min() >= 0.0 and w.max() <= 1.0
    w = BlendshapeSolver(basis, lower=-0.5, upper=0.25).solve(targets)
    assert w.min() >= -0.5 and w.max() <= 0.25


def test_exact_recovery_inside_the_box():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(60, 20))
    truth = rng.uniform(0, 1, size=(100, 20)) * (rng.uniform(size=(100, 20)) < 0.3)
    w = BlendshapeSolver(basis, settings=SolverSettings(l2=1e-9)).solve(truth @ basis.T)
    assert np.abs(w - truth).max() < 1e-4


def test_l1_makes_solutions_sparser():
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(20, 30))  # more shapes than targets: many solutions fit
    targets = (rng.uniform(0, 1, size=(50, 30)) * (rng.uniform(size=(50, 30)) < 0.2)) @ basis.T
    dense = BlendshapeSolver(basis, settings=SolverSettings(l2=1e-3)).solve(targets)
    sparse = BlendshapeSolver(basis, settings=SolverSettings(l2=1e-3, l1=2.0)).solve(targets)
    assert (sparse > 1e-3).sum() < 0.7 * (dense > 1e-3).sum()


def test_temporal_term_smooths_and_continues_from_the_previous_frame():
    rng = np.random.default_rng(3)
    basis = np.eye(4)
    targets = np.clip(0.5 + 0.3 * rng.normal(size=(200, 4)), 0, 1)  # noisy
    raw = BlendshapeSolver(basis).solve(targets)
    smooth = BlendshapeSolver(basis, settings=SolverSettings(temporal=5.0)).solve(targets)
    assert np.abs(np.diff(smooth, axis=0)).mean() < 0.3 * np.abs(np.diff(raw, axis=0)).mean()
    # Streaming: one frame at a time, pulled toward the frame before it.
    prev = np.zeros(4)
    step = BlendshapeSolver(basis, settings=SolverSettings(temporal=1.0)).solve(np.ones((1, 4)), prev=prev)
    np.testing.assert_allclose(step, 0.5, atol=1e-6)  # halfway between target 1 and previous 0


def test_symmetry_pulls_left_and_right_together():
    basis = np.eye(2)
    targets = np.array([[0.2, 0.8]])
    free = BlendshapeSolver(basis).solve(targets)
    tied = BlendshapeSolver(basis, pairs=[(0, 1)], settings=SolverSettings(symmetry=10.0)).solve(targets)
    assert abs(tied[0, 0] - tied[0, 1]) < 0.1 < abs(free[0, 0] - free[0, 1])
    assert tied.mean() == pytest.approx(0.5, abs=1e-6)  # the average stays where the data put it


def test_gram_form_equals_basis_form(problem):
    basis, targets = problem
    a = BlendshapeSolver(basis).solve(targets)
    b = BlendshapeSolver.from_gram(basis.T @ basis).solve_rhs(targets @ basis)
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_a_shape_that_does_nothing_is_refused_without_l2():
    with pytest.raises(ValueError, match="no effect"):
        BlendshapeSolver(np.zeros((3, 2)), settings=SolverSettings(l2=0.0))


def test_empty_input_gives_empty_output():
    assert BlendshapeSolver(np.eye(3)).solve(np.zeros((0, 3))).shape == (0, 3)
