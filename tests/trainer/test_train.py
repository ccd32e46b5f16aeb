"""Training: a tiny run end to end, exact resume, a run killed mid-way, DDP with two CPU
processes, clear errors."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from trainer import train as T
from trainer.checkpoint import load_checkpoint, saved_config
from trainer.data import synth as Y

REPO = Path(__file__).resolve().parents[2]
SMALL = {"backbone": "mobilenet", "input_size": 64, "hg_channels": 32, "hg_depth": 2, "num_clusters": 4,
         "head_hidden": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    assert Y.main(["--out", str(out), "--train", "24", "--val", "8", "--test", "8", "--shard-size", "8",
                   "--size", "96", "--bodies-per-shard", "2", "--seed", "9", "--no-card",
                   "--style", "webcam"]) == 0  # the distribution these tiny runs were written against
    return out


def write_cfg(tmp_path, root, name, /, **kw):
    cfg = {"out": str(tmp_path / name), "model": SMALL,
           "data": [{"kind": "synth", "root": str(root), "weight": 1.0}],
           "val": {"kind": "synth", "root": str(root), "split": "val", "max_samples": 8},
           "batch_size": 4, "steps": 6, "val_every": 3, "ckpt_every": 2, "log_every": 1, "threads": 1, **kw}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.slow
def test_tiny_run_writes_everything(tmp_path, data):
    assert T.main([str(write_cfg(tmp_path, data, "run"))]) == 0
    run = tmp_path / "run"
    for f in ("last.pt", "best.pt", "train.csv", "val.csv", "curves.png", "model.onnx", "clusters.npz", "config.yaml"):
        assert (run / f).exists(), f
    rows = (run / "train.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,lr,img_per_s,") and len(rows) == 7
    assert torch.load(run / "last.pt", weights_only=False)["step"] == 6
    from trainer.export import main as export_main

    assert export_main([str(run / "best.pt"), "--out", str(tmp_path / "x.onnx")]) == 0
    import onnxruntime as ort

    meta = ort.InferenceSession(str(tmp_path / "x.onnx")).get_modelmeta().custom_metadata_map
    assert meta["skeletonnet.input_size"] == "64"
    assert export_main([str(tmp_path / "none.pt")]) == 2


@pytest.mark.slow
def test_exact_resume(tmp_path, data):
    a = write_cfg(tmp_path, data, "a", val=None)
    assert T.main([str(a)]) == 0
    b = write_cfg(tmp_path, data, "b", val=None, steps=6)
    assert T.main([str(b), "--set", "stop_at=2"]) == 0  # a chunk: stops at step 2 (checkpointed)
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=False)["step"] == 2
    assert T.main([str(b)]) == 0                                                # resumes 2 -> 6
    wa = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    wb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5), k


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, data):
    cfg = write_cfg(tmp_path, data, "k", steps=400, ckpt_every=2, val=None, export=False)
    p = subprocess.Popen([sys.executable, "-m", "trainer", "train", str(cfg)], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "k" / "last.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not last.exists():
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    step = torch.load(last, weights_only=False)["step"]
    assert step >= 2
    assert T.main([str(cfg), "--set", f"stop_at={step + 2}"]) == 0
    assert torch.load(last, weights_only=False)["step"] == step + 2


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path, data):
    cfg = write_cfg(tmp_path, data, "ddp", steps=3, val=None, export=False)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", "29517", "-m", "trainer", "train", str(cfg)], cwd=REPO, capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ck = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert ck["step"] == 3
    rows = (tmp_path / "ddp" / "train.csv").read_text().strip().splitlines()
    assert len(rows) == 4  # one writer (rank 0), three steps


def test_clear_errors(tmp_path, data, capsys):
    assert T.main([str(tmp_path / "none.yaml")]) == 2
    assert "training config not found" in capsys.readouterr().err
    bad = write_cfg(tmp_path, tmp_path / "missing", "m")
    assert T.main([str(bad)]) == 2
    assert "does not exist" in capsys.readouterr().err
    cfg = write_cfg(tmp_path, data, "arch", steps=2, val=None, export=False)
    assert T.main([str(cfg)]) == 0
    assert T.main([str(cfg), "--set", "model.hg_channels=16"]) == 2
    assert "checkpoint is for another architecture" in capsys.readouterr().err
    cl = write_cfg(tmp_path, data, "cl", steps=2, val=None, export=False, clusters=str(tmp_path / "nope.npz"))
    assert T.main([str(cl)]) == 2
    assert "clusters file" in capsys.readouterr().err
    p = tmp_path / "typo.yaml"
    p.write_text("stepz: 3\n")
    assert T.main([str(p)]) == 2
    assert "unknown key 'stepz'" in capsys.readouterr().err


@pytest.mark.slow
def test_checkpoints_are_chosen_by_the_video_score(tmp_path, data, monkeypatch):
    """video_val: best.pt is the step with the best held-out-video score, not the best synthetic MPJPE;
    every score lands in video.csv and the curves."""
    scores = {2: 0.30, 4: 0.45, 6: 0.40}
    calls = []

    def fake(net, out, step, videos="select"):
        calls.append((step, videos))
        return {"step": step, "app_pck@0.2": scores[step], "app_pck@0.1": scores[step] / 2, "found": 0.9,
                "oracle_pck@0.2": 0.5, "baseline_pck@0.2": 0.25}

    monkeypatch.setattr(T, "video_score", fake)
    cfg = write_cfg(tmp_path, data, "vv", export=False, video_val={"every": 2, "videos": "select", "choose": True})
    assert T.main([str(cfg)]) == 0
    run = tmp_path / "vv"
    assert calls == [(2, "select"), (4, "select"), (6, "select")]
    best = torch.load(run / "best.pt", weights_only=False)
    assert best["step"] == 4 and best["best"] == pytest.approx(-0.45)
    rows = (run / "video.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,app_pck@0.2") and len(rows) == 4


@pytest.mark.slow
def test_time_limit_stops_checkpointed_and_resumes(tmp_path, data, capsys):
    cfg = write_cfg(tmp_path, data, "tl", steps=50, val=None, export=False, time_limit_s=1e-9)
    assert T.main([str(cfg)]) == 0
    assert torch.load(tmp_path / "tl" / "last.pt", weights_only=False)["step"] == 1  # one step, then out of time
    said = capsys.readouterr()
    assert "time limit" in said.out + said.err
    assert T.main([str(cfg), "--set", "time_limit_s=0", "--set", "steps=3"]) == 0
    assert torch.load(tmp_path / "tl" / "last.pt", weights_only=False)["step"] == 3


def test_video_val_settings_are_checked(tmp_path, data, capsys):
    for vv, said in (({"every": -1}, "video_val.every = -1 is out of range"),
                     ({"every": 2, "videos": "mine"}, "video_val.videos = 'mine' is not allowed"),
                     ({"every": 2, "chose": True}, "unknown key 'video_val.chose'")):
        cfg = write_cfg(tmp_path, data, "vb", video_val=vv)
        assert T.main([str(cfg)]) == 2
        err = capsys.readouterr().err
        assert f"{cfg}: {said}" in err and err.count("\n") == 1, err
    assert not T.load_train_config(write_cfg(tmp_path, data, "off", video_val={"every": 0})).video_val.chooses


@pytest.mark.parametrize("keys, said", [
    ({"model": {**SMALL, "hg_chanels": 8}}, "unknown key 'model.hg_chanels' (allowed: backbone, input_size, "),
    ({"loss": {"lam": "high"}}, "loss.lam = 'high' is a string; expected a number"),
    ({"model": {**SMALL, "input_size": 100}}, "model.input_size = 100 is not allowed; allowed: a multiple of 32"),
    ({"model": {**SMALL, "mode": "heat"}}, "model.mode = 'heat' is not allowed; allowed: both, rot, hm"),
    ({"batch_size": 0}, "batch_size = 0 is out of range; allowed: 1 to 65536"),
    ({"data": [{"root": "x", "weight": -1}]}, "data[0].weight = -1 is out of range"),
    ({"data": [{"root": "x"}, {"root": "y", "kind": "photos"}]}, "data[1].kind = 'photos' is not allowed"),
    ({"data": [{"root": "x", "shares": {"pasted": 1.0}}]}, "data[0].shares = {'pasted': 1.0} is not allowed"),
    ({"data": [{"kind": "synth"}]}, "data[0].root is missing"),
    ({"data": {"root": "x"}}, "data = {'root': 'x'} is a mapping; expected a list"),
    ({"val": {"root": "x", "max_samples": 0}}, "val.max_samples = 0 is out of range"),
    ({"loss": {"distill": 0.2}}, "loss.distill = 0.2 needs a blazepose_* model.backbone"),
])
def test_config_mistakes_are_one_line_naming_the_file_and_the_dotted_key(tmp_path, data, capsys, keys, said):
    cfg = write_cfg(tmp_path, data, "bad", **keys)
    assert T.main([str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trainer: {cfg}: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()  # checked before anything is made


def test_set_overrides_are_checked_like_the_file(tmp_path, data, capsys):
    cfg = write_cfg(tmp_path, data, "ov")
    got = T.load_train_config(cfg, ["model.hg_channels=16", "loss.lam=0.5", "val.max_samples=3", "steps=4",
                                    "data=[{kind: synth, root: x, weight: 2}]"])
    assert (got.model.hg_channels, got.model.hg_depth, got.loss.lam, got.val.max_samples, got.steps) == (16, 2, 0.5,
                                                                                                        3, 4)
    assert got.data[0].root == "x" and got.data[0].weight == 2.0 and got.data[0].split == ""
    assert not T.load_train_config(cfg, ["val=null"]).val.root  # no validation
    for o, said in (("model.hg_chanels=16", "--set: unknown key 'model.hg_chanels'"),
                    ("lr=abc", "--set: lr = 'abc' is a string; expected a number"),
                    ("steps.x=1", "--set: 'steps.x' goes below 'steps', which is not a section")):
        assert T.main([str(cfg), "--set", o]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err


def test_a_runs_config_yaml_loads_back_to_its_config(tmp_path, data):
    """config.yaml in the run folder is every key with its value: loaded again, the same config."""
    cfg = write_cfg(tmp_path, data, "cy", steps=2, val_every=2, export=False,
                    data=[{"kind": "synth", "root": str(data), "weight": 0.75},
                          {"kind": "synth", "root": str(data), "weight": 0.25, "split": "train"}])
    assert T.main([str(cfg)]) == 0
    assert T.load_train_config(tmp_path / "cy" / "config.yaml") == T.load_train_config(cfg)


def test_batches_mix_sources_by_weight():
    class Src:
        def __init__(self, tag, n):
            self.tag, self.n = tag, n

        def __len__(self):
            return self.n

        def sample(self, i, rng=None):
            return {"tag": np.int64(self.tag), "image": np.zeros((3, 4, 4), np.float32)}

    b = T.batch_for_step([Src(0, 10), Src(1, 5)], [1.0, 1.0], 16, 0, 0, 7)
    assert int((b["tag"] == 0).sum()) == 8 and int((b["tag"] == 1).sum()) == 8
    again = T.batch_for_step([Src(0, 10), Src(1, 5)], [1.0, 1.0], 16, 0, 0, 7)
    assert torch.equal(b["tag"], again["tag"])


@pytest.mark.slow
def test_ablation_runs_each_variant_with_the_same_budget(tmp_path, data, capsys):
    from trainer import ablate as A

    cfg = {"out": str(tmp_path / "abl"),
           "base": {"model": SMALL, "data": [{"kind": "synth", "root": str(data), "weight": 1.0}],
                    "batch_size": 4, "steps": 3, "ckpt_every": 2, "log_every": 1, "threads": 1},
           "variants": {"both": {"mode": "both"}, "rot_nogs": {"mode": "rot", "gram_schmidt": False}}}
    p = tmp_path / "abl.yaml"
    p.write_text(yaml.safe_dump(cfg))
    assert A.main([str(p), "--test-samples", "8", "--train-samples", "8"]) == 0
    res = json.loads((tmp_path / "abl" / "results.json").read_text())
    assert set(res) == {"both", "rot_nogs"}
    assert all(r["steps"] == 3 and r["overall"]["samples"] == 8 for r in res.values())
    assert res["rot_nogs"]["model"]["gram_schmidt"] is False
    # the classes were computed once and shared by both variants
    c0 = np.load(tmp_path / "abl" / "clusters.npz")["centres"]
    for v in ("both", "rot_nogs"):
        np.testing.assert_array_equal(np.load(tmp_path / "abl" / v / "clusters.npz")["centres"], c0)
        assert torch.load(tmp_path / "abl" / v / "last.pt", weights_only=False)["step"] == 3
    table = (tmp_path / "abl" / "table.md").read_text().splitlines()
    assert len(table) == 4 and table[2].startswith("| both |") and "gram_schmidt=False" in table[3]
    assert res["both"]["train_fit"]["samples"] == 8
    capsys.readouterr()
    assert A.main([str(p), "--test-samples", "8"]) == 0          # finished variants are not trained again
    assert capsys.readouterr().err.count("done already") == 2
    assert A.main([str(p), "--only", "nope"]) == 2
    assert "unknown variant 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_slim_checkpoint_loads_and_starts_a_run(tmp_path, data, capsys):
    """``export --weights``: float16 weights without optimizer state; the network it loads gives the
    checkpoint's outputs to float16 precision, and a training config can start from it (init:)."""
    from trainer.export import main as export_main

    assert T.main([str(write_cfg(tmp_path, data, "src", val=None, export=False))]) == 0
    full = tmp_path / "src" / "last.pt"
    slim = tmp_path / "slim.pt"
    assert export_main([str(full), "--out", str(tmp_path / "s.onnx"), "--weights", str(slim)]) == 0
    ck = torch.load(slim, weights_only=False)
    assert "optimizer" not in ck and ck["step"] == 6
    assert ck["model"]["cluster_centres"].dtype == torch.float32
    assert any(v.dtype == torch.float16 for v in ck["model"].values())
    a, b = load_checkpoint(full), load_checkpoint(slim)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        oa, ob = a(x), b(x)
    for k, tol in (("joints_2d", 0.05), ("joints", 0.002)):  # px of the 64 px input; metres (seen: 5e-5, 9e-5)
        d = (oa[k] - ob[k]).abs().max().item()
        assert 0 < d < tol, (k, d)
    ft = write_cfg(tmp_path, data, "ft", val=None, export=False, steps=2, init=str(slim))
    assert T.main([str(ft)]) == 0
    assert torch.load(tmp_path / "ft" / "last.pt", weights_only=False)["step"] == 2
    # a torn weights file, as init or to export, is one clear line
    torn = tmp_path / "torn.pt"
    torn.write_bytes(slim.read_bytes()[:1000])
    bad = write_cfg(tmp_path, data, "bad", val=None, export=False, steps=2, init=str(torn))
    capsys.readouterr()
    assert T.main([str(bad)]) == 2
    assert "torn.pt: checkpoint unreadable" in capsys.readouterr().err
    assert export_main([str(torn)]) == 2
    assert "torn.pt: checkpoint unreadable" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((REPO / "trainer" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_their_init_weights_fit(path):
    """Every config in trainer/configs parses (the ablation one: every variant); one that starts from
    weights (init:) names a file in the repository whose architecture is the config's."""
    import dataclasses

    from trainer import ablate
    from trainer.model import SkeletonNetConfig

    if "variants" in yaml.safe_load(path.read_text()):
        abl = ablate.load_ablation_config(path)
        for name in abl["variants"]:
            v = ablate.variant_config(abl, name, None)
            assert isinstance(v.model, SkeletonNetConfig) and not v.val.root and not v.export
        return
    cfg = T.load_train_config(path)
    assert isinstance(cfg.model, SkeletonNetConfig) and cfg.data and all(s.root for s in cfg.data)
    if cfg.init:
        ck = torch.load(REPO / cfg.init, map_location="cpu", weights_only=False)
        # as training checks it (fields added since the checkpoint, e.g. presence, take their defaults)
        assert saved_config(ck) == dataclasses.asdict(cfg.model)


@pytest.mark.slow
def test_the_shipped_checkpoint_starts_resumes_and_exports(tmp_path, data):
    """trainer/weights/skeletonnet_blazepose.pt, saved before the typed config: its model config is
    blazepose.yaml's model section, a run starts from it (init:, with distillation) and resumes, and it exports."""
    import dataclasses

    import onnxruntime as ort

    from trainer.checkpoint import read_checkpoint
    from trainer.export import export_onnx

    shipped = REPO / "trainer" / "weights" / "skeletonnet_blazepose.pt"
    ck = read_checkpoint(shipped)
    model = T.load_train_config(REPO / "trainer" / "configs" / "blazepose.yaml").model
    assert saved_config(ck) == dataclasses.asdict(model)
    cfg = write_cfg(tmp_path, data, "bp", model=dataclasses.asdict(model), init=str(shipped), val=None,
                    export=False, upright=True, loss={"distill": 0.2}, distill_on="real", batch_size=2, steps=2,
                    ckpt_every=1)
    assert T.main([str(cfg), "--set", "stop_at=1"]) == 0
    assert T.main([str(cfg)]) == 0  # resumes 1 -> 2
    last = torch.load(tmp_path / "bp" / "last.pt", weights_only=False)
    assert last["step"] == 2 and saved_config(last) == saved_config(ck)
    path = export_onnx(load_checkpoint(shipped), tmp_path / "bp.onnx")
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    assert meta["skeletonnet.input_size"] == str(model.input_size)


def test_a_source_from_a_mapping_is_built_and_checked(data):
    from trainer.data.sources import SourceConfig, make_source

    src = make_source({"kind": "synth", "root": str(data), "holdout": None}, "val", 64, None, False)
    assert len(src) == 8  # the mapping names no split: the caller's; None: a key left out
    assert len(make_source(SourceConfig(root=str(data), split="test"), "val", 64, None, False)) == 8
    with pytest.raises(T.UserError, match="data source: unknown key 'rot'"):
        make_source({"kind": "synth", "rot": str(data)}, "val", 64, None, False)
    with pytest.raises(T.UserError, match="needs a root"):
        make_source({"kind": "synth"}, "val", 64, None, False)


def test_ablation_variant_mistakes_are_one_line(tmp_path, data, capsys):
    from trainer import ablate as A

    p = tmp_path / "abl.yaml"
    p.write_text(yaml.safe_dump({"out": str(tmp_path / "abl"), "base": {"model": SMALL, "steps": 3},
                                 "variants": {"ok": {"mode": "rot"}, "typo": {"mdoe": "rot"}}}))
    assert A.main([str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trainer: {p} (variant typo): unknown key 'base.model.mdoe'") and err.count("\n") == 1
    assert not (tmp_path / "abl").exists()
