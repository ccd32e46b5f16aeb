"""benchmarks.speed_vs_blazepose's choice of motion model (the shipped one by default, a given file, one line for a
missing file) and benchmarks.ab_speed's alternating rounds."""
import pytest

from benchmarks.speed_vs_blazepose import motion_model
from engine.errors import UserError
from engine.settings import REPO_ROOT


def test_the_motion_model_is_the_shipped_one_or_the_given_file(tmp_path):
    path, note = motion_model(None)
    assert path == REPO_ROOT / "assets" / "motion.onnx" and "the default" in note
    mine = tmp_path / "m.onnx"
    mine.write_bytes((REPO_ROOT / "assets" / "motion.onnx").read_bytes())
    assert motion_model(str(mine))[0] == mine
    with pytest.raises(UserError, match="no_such.onnx: motion model not found"):
        motion_model(str(tmp_path / "no_such.onnx"))


def test_ab_speed_times_both_models_in_alternating_rounds(tmp_path, capsys):
    from benchmarks.ab_speed import main

    model = REPO_ROOT / "assets" / "skeletonnet.onnx"
    out = tmp_path / "ab.json"
    assert main([str(model), str(model), "--rounds", "2", "--runs", "2", "--threads", "1", "--json", str(out)]) == 0
    import json

    row = json.loads(out.read_text())["rows"][0]
    assert len(row["a_rounds"]) == len(row["b_rounds"]) == 2 and row["a_ms"] > 0 and row["b_ms"] > 0
    assert main([str(tmp_path / "none.onnx"), str(model)]) == 2
    assert "none.onnx: model not found" in capsys.readouterr().err
