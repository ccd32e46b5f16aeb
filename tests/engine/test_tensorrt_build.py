"""The TensorRT engine builder, tested without a GPU: cache keys, the clear
error when TensorRT is missing, and the builder's calls against a recording
stand-in of the TensorRT 10 API surface it uses (the real build runs on a
user's GPU machine)."""
import importlib.util
import types

import pytest

from engine import tensorrt_build as T


def test_cache_key_changes_with_every_input():
    s = T.BuildSettings()
    base = T.cache_key(b"model", "10.3.0", "NVIDIA H100", s)
    assert base == T.cache_key(b"model", "10.3.0", "NVIDIA H100", s)
    others = {
        T.cache_key(b"model2", "10.3.0", "NVIDIA H100", s),
        T.cache_key(b"model", "10.4.0", "NVIDIA H100", s),
        T.cache_key(b"model", "10.3.0", "NVIDIA RTX 4090", s),
        T.cache_key(b"model", "10.3.0", "NVIDIA H100", T.BuildSettings(fp16=False)),
        T.cache_key(b"model", "10.3.0", "NVIDIA H100", T.BuildSettings(max_batch=8)),
        T.cache_key(b"model", "10.3.0", "NVIDIA H100", T.BuildSettings(input_size=256)),
    }
    assert base not in others and len(others) == 6


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed")
def test_missing_tensorrt_is_one_clear_error(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(T.TensorRTUnavailable, match=r"TensorRT is not installed .*pip install -e '\.\[gpu\]'"):
        T.build_engine(onnx, T.BuildSettings(), tmp_path / "cache", device_name="GPU")


def test_missing_onnx_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        T.build_engine(tmp_path / "nope.onnx", T.BuildSettings(), tmp_path, trt=object(), device_name="GPU")


def recording_trt(calls: list, parse_ok=True):
    """Stand-in with the TensorRT 10 names build_engine uses; records each call."""
    class Obj:
        def __init__(self, name):
            self._name = name

        def __getattr__(self, attr):
            def f(*a):
                calls.append((f"{self._name}.{attr}", a))
                return {"create_network": Obj("network"), "create_builder_config": Obj("config"),
                        "create_optimization_profile": Obj("profile"),
                        "build_serialized_network": b"PLAN", "parse": parse_ok}.get(attr)
            return f

    class Parser(Obj):
        num_errors = 1

        def __init__(self, network, logger):
            super().__init__("parser")

        def get_error(self, i):
            return "unsupported node Det"

    class Logger:
        WARNING = 2

        def __init__(self, level):
            pass

    return types.SimpleNamespace(
        __version__="10.3.0", Logger=Logger, Builder=lambda logger: Obj("builder"), OnnxParser=Parser,
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="WORKSPACE"),
        BuilderFlag=types.SimpleNamespace(FP16="FP16"))


def test_build_uses_profile_precision_workspace_and_caches(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx-bytes")
    calls: list = []
    s = T.BuildSettings(fp16=True, workspace_mb=512, input_size=192, min_batch=1, opt_batch=2, max_batch=4)
    out = T.build_engine(onnx, s, tmp_path / "cache", trt=recording_trt(calls), device_name="NVIDIA H100",
                         log=lambda m: None)
    assert out.read_bytes() == b"PLAN"
    assert out.name.startswith("model-") and out.suffix == ".engine"
    names = [c[0] for c in calls]
    assert ("builder.create_network", (0,)) in calls
    assert ("parser.parse", (b"onnx-bytes",)) in calls
    assert ("config.set_memory_pool_limit", ("WORKSPACE", 512 << 20)) in calls
    assert ("config.set_flag", ("FP16",)) in calls
    assert ("profile.set_shape", ("image", (1, 3, 192, 192), (2, 3, 192, 192), (4, 3, 192, 192))) in calls
    assert ("profile.set_shape", ("camera", (1, 3), (2, 3), (4, 3))) in calls  # model contract 2's second input
    assert names.index("config.add_optimization_profile") < names.index("builder.build_serialized_network")
    assert not list((tmp_path / "cache").glob("*.partial"))
    # second call: cache hit, nothing built
    calls.clear()
    assert T.build_engine(onnx, s, tmp_path / "cache", trt=recording_trt(calls), device_name="NVIDIA H100") == out
    assert calls == []
    # FP32 is another engine
    calls.clear()
    out32 = T.build_engine(onnx, T.BuildSettings(fp16=False), tmp_path / "cache", trt=recording_trt(calls),
                           device_name="NVIDIA H100", log=lambda m: None)
    assert out32 != out and ("config.set_flag", ("FP16",)) not in calls


def test_parse_failure_names_the_model_and_errors(tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"bad")
    with pytest.raises(RuntimeError, match="model.onnx: TensorRT could not parse the model: unsupported node Det"):
        T.build_engine(onnx, T.BuildSettings(), tmp_path, trt=recording_trt([], parse_ok=False),
                       device_name="GPU", log=lambda m: None)
