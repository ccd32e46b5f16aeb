"""The error statistics of benchmarks/heldout_video.py on made-up predictions (no video, no teacher)."""
import numpy as np

from benchmarks.heldout_video import MISS, SWAP_MARGIN, error_stats
from engine import skeleton as S


def _person(rng, n):
    """n frontal stick figures in a 200 px crop: left joints at +x, right at -x, well apart."""
    base = np.array([[-30, 180], [-25, 130], [-20, 90], [20, 90], [25, 130], [30, 180], [0, 85], [0, 40], [0, 28],
                     [0, 5], [-70, 90], [-55, 65], [-35, 40], [35, 40], [55, 65], [70, 90]], float)
    return base[None] + rng.normal(0, 2, (n, 16, 2)) + 300


def test_error_statistics_find_noise_swaps_and_misses():
    rng = np.random.default_rng(0)
    n = 400
    gt = _person(rng, n)
    side = np.full(n, 200.0)
    vis = np.ones((n, 16))
    noise = rng.normal(0, 0.02, (n, 16, 2)) * side[:, None, None]
    st = error_stats(gt + noise, gt, vis, side)
    assert st["all_joints"]["swap_rate"] == 0 and st["all_joints"]["miss_rate"] == 0 and st["frames_body_flipped"] == 0
    for name, j in st["joints"].items():
        assert abs(j["std"][0] - 0.02) < 0.004 and abs(j["std"][1] - 0.02) < 0.004, name
        assert np.allclose(j["mean"], 0, atol=0.005)
        assert (j["swap_rate"] is None) == (S.JOINT_FLIP[S.JOINT_INDEX[name]] == S.JOINT_INDEX[name])

    flipped = gt[:, S.JOINT_FLIP] + noise  # a whole-body left/right flip
    st = error_stats(flipped, gt, vis, side)
    assert st["frames_body_flipped"] == 1.0 and st["swaps_in_flipped_frames"] == 1.0
    for name in ("l_wrist", "r_ankle", "l_shoulder"):
        assert st["joints"][name]["swap_rate"] == 1.0 and st["joints"][name]["miss_rate"] == 0.0
    assert st["joints"]["pelvis"]["swap_rate"] is None and st["joints"]["pelvis"]["miss_rate"] == 0.0

    far = gt + noise
    far[: n // 4, S.JOINT_INDEX["r_wrist"]] += np.array([0.0, 2 * MISS]) * 200  # a quarter of the frames: gross miss
    st = error_stats(far, gt, vis, side)
    r = st["joints"]["r_wrist"]
    assert abs(r["miss_rate"] - 0.25) < 1e-9 and r["swap_rate"] == 0.0 and r["inliers"] == n - n // 4
    assert st["frames_with_miss"] == 0.25 and SWAP_MARGIN > 0
    # an unseen joint is not counted
    vis[:, S.JOINT_INDEX["head_top"]] = 0
    assert error_stats(far, gt, vis, side)["joints"]["head_top"]["n"] == 0
