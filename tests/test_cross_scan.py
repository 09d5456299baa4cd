"""The four-direction cross-scan of SS2D (VMamba / MambaNO) and its adjoint merge."""

from __future__ import annotations

import pytest
import torch

from mambano_core.ops.cross_scan import DIRECTIONS, cross_merge, cross_scan

F64 = torch.float64


def test_directions_visit_the_grid_in_the_documented_orders():
    h, w = 3, 4
    grid = torch.arange(h * w, dtype=F64).view(1, 1, h, w)
    seqs = cross_scan(grid)[0, :, 0]
    row_major = [r * w + c for r in range(h) for c in range(w)]
    col_major = [r * w + c for c in range(w) for r in range(h)]
    expected = [row_major, col_major, row_major[::-1], col_major[::-1]]
    assert len(DIRECTIONS) == 4
    assert seqs.tolist() == [[float(v) for v in e] for e in expected]


@pytest.mark.parametrize(("h", "w"), [(3, 5), (4, 4)])
def test_merge_is_the_adjoint_of_scan(h, w):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, h, w, dtype=F64, generator=g)
    ys = torch.randn(2, 4, 3, h * w, dtype=F64, generator=g)
    lhs = (cross_scan(x) * ys).sum()
    rhs = (x * cross_merge(ys, h, w)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_gradients_and_second_derivatives():
    x = torch.randn(1, 2, 3, 4, dtype=F64, requires_grad=True)
    ys = torch.randn(1, 4, 2, 12, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(cross_scan, (x,))
    assert torch.autograd.gradcheck(lambda v: cross_merge(v, 3, 4), (ys,))
    assert torch.autograd.gradgradcheck(lambda v: cross_scan(v).pow(2), (x,))
    assert torch.autograd.gradgradcheck(lambda v: cross_merge(v, 3, 4).pow(2), (ys,))


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="expected a"):
        cross_scan(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="sequences"):
        cross_merge(torch.zeros(1, 4, 2, 11), 3, 4)


@pytest.mark.parametrize("directions", [1, 2])
def test_fewer_directions_are_the_first_of_the_four(directions):
    """1: row-major only; 2: row- and column-major (the ablations of MambaNO's scan)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 3, 5, dtype=F64, generator=g)
    torch.testing.assert_close(cross_scan(x, directions), cross_scan(x)[:, :directions], rtol=0, atol=0)
    ys = torch.randn(2, directions, 3, 15, dtype=F64, generator=g)
    torch.testing.assert_close((cross_scan(x, directions) * ys).sum(), (x * cross_merge(ys, 3, 5)).sum())
    x.requires_grad_(True)
    ys.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: cross_scan(v, directions), (x,))
    assert torch.autograd.gradcheck(lambda v: cross_merge(v, 3, 5), (ys,))
    assert torch.autograd.gradgradcheck(lambda v: cross_scan(v, directions).pow(2), (x,))


@pytest.mark.parametrize("directions", [0, 3, 5])
def test_other_direction_counts_are_refused(directions):
    with pytest.raises(ValueError, match="directions"):
        cross_scan(torch.zeros(1, 2, 3, 4), directions)
    with pytest.raises(ValueError, match="sequences"):
        cross_merge(torch.zeros(1, directions, 2, 12), 3, 4)
