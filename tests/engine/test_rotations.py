"""Property tests for engine.rotations (hypothesis) and hand-worked cases."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine import rotations as R

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
quats = arrays(np.float64, (4,), elements=st.floats(-1, 1, allow_nan=False)).filter(
    lambda q: np.linalg.norm(q) > 0.1)
mats = arrays(np.float64, (3, 3), elements=finite)
angles = st.floats(-np.pi + 1e-3, np.pi - 1e-3)


def rot(q):
    return R.quat_to_matrix(q)


def assert_rotation(m, tol=1e-9):
    m = np.asarray(m)
    np.testing.assert_allclose(m.T @ m, np.eye(3), atol=tol)
    assert abs(np.linalg.det(m) - 1.0) < tol


@settings(max_examples=300)
@given(quats)
def test_quat_matrix_round_trip(q):
    m = rot(q)
    assert_rotation(m)
    q2 = R.matrix_to_quat(m)
    qn = q / np.linalg.norm(q)
    qn = qn if qn[3] >= 0 else -qn
    # same rotation; quaternion equal up to sign (w = 0 leaves the sign free)
    assert min(np.abs(q2 - qn).max(), np.abs(q2 + qn).max()) < 1e-6
    np.testing.assert_allclose(rot(q2), m, atol=1e-6)


@settings(max_examples=300)
@given(quats)
def test_axis_angle_round_trip(q):
    m = rot(q)
    aa = R.matrix_to_axis_angle(m)
    assert np.linalg.norm(aa) <= np.pi + 1e-9
    np.testing.assert_allclose(R.axis_angle_to_matrix(aa), m, atol=1e-6)


@settings(max_examples=200)
@given(arrays(np.float64, (3,), elements=st.floats(-3, 3, allow_nan=False)))
def test_axis_angle_from_vector(aa):
    if np.linalg.norm(aa) >= np.pi:
        return
    np.testing.assert_allclose(R.matrix_to_axis_angle(R.axis_angle_to_matrix(aa)), aa, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("order", R.EULER_ORDERS)
@pytest.mark.parametrize("degrees", [False, True])
@settings(max_examples=100, deadline=None)
@given(q=quats)
def test_euler_matrix_round_trip(order, degrees, q):
    m = rot(q)
    e = R.matrix_to_euler(m, order, degrees)
    np.testing.assert_allclose(R.euler_to_matrix(e, order, degrees), m, atol=1e-6)


@pytest.mark.parametrize("order", R.EULER_ORDERS)
@settings(max_examples=100, deadline=None)
@given(a=angles, b=st.floats(-np.pi / 2 + 1e-3, np.pi / 2 - 1e-3), c=angles)
def test_euler_angles_round_trip(order, a, b, c):
    e = np.array([a, b, c])
    np.testing.assert_allclose(R.matrix_to_euler(R.euler_to_matrix(e, order), order), e, atol=1e-6)
    d = np.rad2deg(e)
    np.testing.assert_allclose(R.matrix_to_euler(R.euler_to_matrix(d, order, True), order, True), d, atol=1e-6)


@pytest.mark.parametrize("order", R.EULER_ORDERS)
@pytest.mark.parametrize("b", [np.pi / 2, -np.pi / 2])
def test_euler_gimbal_lock(order, b):
    m = R.euler_to_matrix(np.array([0.3, b, -0.7]), order)
    np.testing.assert_allclose(R.euler_to_matrix(R.matrix_to_euler(m, order), order), m, atol=1e-6)


def test_euler_meaning_by_hand():
    # ZXY = Rz(a) Rx(b) Ry(c): 90 about Y alone takes +Z to +X
    m = R.euler_to_matrix(np.array([0.0, 0.0, 90.0]), "ZXY", degrees=True)
    np.testing.assert_allclose(m @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    # intrinsic order: Rz(90) then Rx(90) in the rotated frame, applied to +Y
    m = R.euler_to_matrix(np.array([90.0, 90.0, 0.0]), "ZXY", degrees=True)
    np.testing.assert_allclose(m @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    with pytest.raises(ValueError, match="Euler order 'XXY'"):
        R.euler_to_matrix(np.zeros(3), "XXY")


@settings(max_examples=300)
@given(mats)
def test_gram_schmidt_random(m):
    out = R.gram_schmidt(m)
    assert np.all(np.isfinite(out))
    assert_rotation(out, 1e-9)


near_degenerate = st.builds(
    lambda v, e1, e2, s: np.stack([v, v * s + e1, e2], axis=-1),
    arrays(np.float64, (3,), elements=st.floats(-1, 1, allow_nan=False)),
    arrays(np.float64, (3,), elements=st.floats(-1e-7, 1e-7, allow_nan=False)),
    arrays(np.float64, (3,), elements=st.floats(-1, 1, allow_nan=False)),
    st.floats(-2, 2, allow_nan=False),
)


@settings(max_examples=300)
@given(near_degenerate)
def test_gram_schmidt_near_degenerate(m):
    out = R.gram_schmidt(m)
    assert np.all(np.isfinite(out))
    assert_rotation(out, 1e-9)


def test_gram_schmidt_keeps_rotations_and_batches():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(5, 7, 4))
    m = R.quat_to_matrix(q)
    np.testing.assert_allclose(R.gram_schmidt(m), m, atol=1e-12)
    # first column direction is kept; a zero matrix still gives a rotation
    a = rng.normal(size=(3, 3))
    np.testing.assert_allclose(R.gram_schmidt(a)[:, 0], a[:, 0] / np.linalg.norm(a[:, 0]), atol=1e-12)
    assert R.is_rotation(R.gram_schmidt(np.zeros((3, 3))))
    assert R.gram_schmidt(np.zeros((2, 4, 3, 3), np.float32)).dtype == np.float32


@settings(max_examples=200)
@given(quats, quats)
def test_geodesic_angle(q1, q2):
    a, b = rot(q1), rot(q2)
    assert R.geodesic_angle(a, a) == 0.0
    assert R.geodesic_angle(a, b) == R.geodesic_angle(b, a)
    ang = R.geodesic_angle(a, b)
    expect = np.linalg.norm(R.matrix_to_axis_angle(a.T @ b))
    assert abs(ang - expect) < 1e-6


def test_geodesic_angle_by_hand():
    rz = R.euler_to_matrix(np.array([30.0, 0, 0]), "ZXY", degrees=True)
    assert abs(np.rad2deg(R.geodesic_angle(np.eye(3), rz)) - 30.0) < 1e-9
    assert abs(R.geodesic_angle(np.eye(3), np.diag([1.0, -1, -1])) - np.pi) < 1e-9


@settings(max_examples=200)
@given(quats, quats, st.floats(0, 1))
def test_slerp(q0, q1, t):
    q0 = q0 / np.linalg.norm(q0)
    q1 = q1 / np.linalg.norm(q1)
    a, b = rot(q0), rot(q1)
    s0 = R.quat_slerp(q0, q1, 0.0)
    s1 = R.quat_slerp(q0, q1, 1.0)
    np.testing.assert_allclose(rot(s0), a, atol=1e-6)
    np.testing.assert_allclose(rot(s1), b, atol=1e-6)
    st_ = R.quat_slerp(q0, q1, t)
    assert abs(np.linalg.norm(st_) - 1) < 1e-9
    assert np.dot(st_, q0) >= -1e-9  # stays in q0's hemisphere: sign-consistent
    total = R.geodesic_angle(a, b)
    np.testing.assert_allclose(R.geodesic_angle(a, rot(st_)), t * total, atol=1e-5)


def test_slerp_batched_midpoint():
    q0 = np.array([[0, 0, 0, 1.0]] * 3)
    q1 = R.matrix_to_quat(R.euler_to_matrix(np.array([[90.0, 0, 0], [0, 90, 0], [0, 0, 90]]), "ZXY", True))
    mid = R.quat_slerp(q0, q1, 0.5)
    np.testing.assert_allclose(np.rad2deg(R.geodesic_angle(np.eye(3), rot(mid))), 45.0, atol=1e-9)


@settings(max_examples=200)
@given(arrays(np.float64, (3,), elements=st.floats(-1, 1, allow_nan=False)).filter(lambda v: np.linalg.norm(v) > 1e-3),
       arrays(np.float64, (3,), elements=st.floats(-1, 1, allow_nan=False)).filter(lambda v: np.linalg.norm(v) > 1e-3))
def test_rotation_between(u, v):
    m = R.rotation_between(u, v)
    assert_rotation(m, 1e-9)
    np.testing.assert_allclose(m @ (u / np.linalg.norm(u)), v / np.linalg.norm(v), atol=1e-6)
    # opposite vectors still give a rotation that maps u onto -u
    m = R.rotation_between(u, -u)
    assert_rotation(m, 1e-9)
    np.testing.assert_allclose(m @ u, -u, atol=1e-9)
