"""Native TensorRT 10 backend (optional: ``pip install -e '.[gpu]'``).

* The engine is built from the ONNX model on first run and cached
  (``engine/tensorrt_build.py``: key = ONNX hash, TensorRT version, GPU name,
  precision, profile).
* GPU memory and streams through NVIDIA's cuda-python (wheels, no compiler
  needed, unlike pycuda). Each frame: the uint8 frame is copied to the GPU
  once; a small CUDA kernel (compiled at start with NVRTC) does the crop
  (bilinear, the same affine map as ``engine.preprocess``: ``Box.inverse_affine``, the full
  2x3 map with the turn of an upright crop), BGR -> RGB and
  the division by 255 straight into the network's input buffer; the crop's intrinsics go to the
  ``camera`` input; TensorRT runs (``execute_async_v3``); the five small outputs come back.

Written against the TensorRT 10 Python API; it has not yet run on a GPU in
this project's CI (which has none). Without TensorRT, cuda-python or a GPU it
raises ``BackendError`` with one line, and ``auto`` falls back to ONNX Runtime.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from engine.backend_base import Backend, BackendError, Outputs, model_metadata, outputs_from
from engine.preprocess import Box
from engine.tensorrt_build import BuildSettings, TensorRTUnavailable, build_engine, gpu_name, import_tensorrt

KERNEL = r"""
extern "C" __global__ void preprocess(const unsigned char* src, int width, int height, float* dst, int size,
                                      float a00, float a01, float a02, float a10, float a11, float a12) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= size || y >= size) return;
    float u = a00 * x + a01 * y + a02;   // crop pixel -> frame pixel (centres at integers)
    float v = a10 * x + a11 * y + a12;
    int x0 = (int)floorf(u), y0 = (int)floorf(v);
    float fx = u - x0, fy = v - y0;
    float acc[3] = {0.f, 0.f, 0.f};
    for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
            int xx = x0 + dx, yy = y0 + dy;
            if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
            float w = (dx ? fx : 1.f - fx) * (dy ? fy : 1.f - fy);
            const unsigned char* p = src + 3 * (yy * width + xx);
            acc[0] += w * p[0]; acc[1] += w * p[1]; acc[2] += w * p[2];
        }
    }
    int plane = size * size, i = y * size + x;
    dst[i] = acc[2] / 255.f;              // R (frames are BGR)
    dst[plane + i] = acc[1] / 255.f;      // G
    dst[2 * plane + i] = acc[0] / 255.f;  // B
}
"""


def _cuda():
    try:
        from cuda.bindings import driver, nvrtc, runtime  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cuda as driver  # older cuda-python
            from cuda import cudart as runtime
            from cuda import nvrtc
        except ImportError:
            raise BackendError("backend tensorrt needs NVIDIA's cuda-python: pip install -e '.[gpu]'") from None
    return driver, runtime, nvrtc


def _check(result, what: str):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendError(f"CUDA error in {what}: {err}")
    return rest[0] if len(rest) == 1 else rest


class TensorRTBackend(Backend):
    def __init__(self, model_path: str | Path, fp16: bool = True, cache_dir: str = "~/.cache/mocap/trt",
                 workspace_mb: int = 1024, log=print):
        try:
            trt = import_tensorrt()
            driver, rt, nvrtc = _cuda()
            device = gpu_name()
        except TensorRTUnavailable as e:
            raise BackendError(str(e)) from None
        model_path = Path(model_path)
        if not model_path.exists():
            raise BackendError(f"{model_path}: model not found")
        self.input_size = model_metadata(model_path)["input_size"]
        settings = BuildSettings(fp16=fp16, workspace_mb=workspace_mb, input_size=self.input_size)
        plan = build_engine(model_path, settings, cache_dir, trt=trt, device_name=device, log=log)
        self.trt, self.rt, self.driver = trt, rt, driver
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(plan.read_bytes())
        if self.engine is None:
            raise BackendError(f"{plan}: cached TensorRT engine could not be loaded; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        s = self.input_size
        self.context.set_input_shape("image", (1, 3, s, s))
        self.context.set_input_shape("camera", (1, 3))
        self.stream = _check(rt.cudaStreamCreate(), "cudaStreamCreate")
        self.outputs = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                shape = tuple(self.context.get_tensor_shape(name))
                host = np.empty(shape, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
                dev = _check(rt.cudaMalloc(host.nbytes), "cudaMalloc")
                self.outputs[name] = (host, dev)
                self.context.set_tensor_address(name, int(dev))
        self.d_input = _check(rt.cudaMalloc(3 * s * s * 4), "cudaMalloc")
        self.context.set_tensor_address("image", int(self.d_input))
        self.h_camera = np.zeros((1, 3), np.float32)
        self.d_camera = _check(rt.cudaMalloc(self.h_camera.nbytes), "cudaMalloc")
        self.context.set_tensor_address("camera", int(self.d_camera))
        self.d_frame, self.frame_bytes = None, 0
        self.kernel = self._compile(nvrtc, driver)
        self.name = f"tensorrt ({'FP16' if fp16 else 'FP32'}, {device})"
        self.model = model_path.name

    def _compile(self, nvrtc, driver):
        prog = _check(nvrtc.nvrtcCreateProgram(KERNEL.encode(), b"preprocess.cu", 0, [], []), "nvrtcCreateProgram")
        err = nvrtc.nvrtcCompileProgram(prog, 1, [b"--use_fast_math"])
        if int(err[0]) != 0:
            size = _check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
            buf = b" " * size
            nvrtc.nvrtcGetProgramLog(prog, buf)
            raise BackendError(f"the GPU pre-processing kernel did not compile: {buf.decode(errors='replace')[:200]}")
        size = _check(nvrtc.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
        ptx = b" " * size
        _check(nvrtc.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        _check(driver.cuInit(0), "cuInit")
        module = _check(driver.cuModuleLoadData(ptx), "cuModuleLoadData")
        return _check(driver.cuModuleGetFunction(module, b"preprocess"), "cuModuleGetFunction")

    def infer(self, frame: np.ndarray, box: Box, camera: np.ndarray) -> Outputs:
        """Crop on the GPU from the whole frame, then infer (``preprocess_s``: the host time to
        queue the frame copy and the crop; the GPU work is timed with the inference)."""
        t0 = time.perf_counter()
        rt, s = self.rt, self.input_size
        frame = np.ascontiguousarray(frame)
        h, w = frame.shape[:2]
        if frame.nbytes > self.frame_bytes:
            if self.d_frame is not None:
                rt.cudaFree(self.d_frame)
            self.d_frame = _check(rt.cudaMalloc(frame.nbytes), "cudaMalloc")
            self.frame_bytes = frame.nbytes
        _check(rt.cudaMemcpyAsync(self.d_frame, frame.ctypes.data, frame.nbytes,
                                  rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream), "cudaMemcpyAsync")
        inv = box.inverse_affine(s)  # crop pixel -> frame pixel, the turn of an upright crop included
        args = [np.array([int(self.d_frame)], np.uint64), np.array([w], np.int32), np.array([h], np.int32),
                np.array([int(self.d_input)], np.uint64), np.array([s], np.int32),
                *[np.array([v], np.float32) for v in inv.reshape(-1)]]
        ptrs = np.array([arg.ctypes.data for arg in args], dtype=np.uint64)
        grid = ((s + 15) // 16, (s + 15) // 16)
        _check(self.driver.cuLaunchKernel(self.kernel, grid[0], grid[1], 1, 16, 16, 1, 0, self.stream,
                                          ptrs.ctypes.data, 0), "cuLaunchKernel")
        self.preprocess_s = time.perf_counter() - t0
        return self._execute(camera)

    def __call__(self, x: np.ndarray, camera: np.ndarray) -> Outputs:
        """Infer from an already cropped (1, 3, S, S) float32 input."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        _check(self.rt.cudaMemcpyAsync(self.d_input, x.ctypes.data, x.nbytes,
                                       self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream), "cudaMemcpyAsync")
        return self._execute(camera)

    def _execute(self, camera: np.ndarray) -> Outputs:
        rt = self.rt
        self.h_camera[0] = np.asarray(camera, np.float32).reshape(3)
        _check(rt.cudaMemcpyAsync(self.d_camera, self.h_camera.ctypes.data, self.h_camera.nbytes,
                                  rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream), "cudaMemcpyAsync")
        if not self.context.execute_async_v3(int(self.stream)):
            raise BackendError("TensorRT execution failed")
        for host, dev in self.outputs.values():
            _check(rt.cudaMemcpyAsync(host.ctypes.data, dev, host.nbytes,
                                      rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream), "cudaMemcpyAsync")
        _check(rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")
        return outputs_from({k: v[0] for k, v in self.outputs.items()})

    def close(self) -> None:
        """Free the device buffers (once; ``Estimator.close`` calls it)."""
        outputs, self.outputs = getattr(self, "outputs", {}), {}
        buffers = [getattr(self, k, None) for k in ("d_input", "d_frame", "d_camera")]
        self.d_input = self.d_frame = self.d_camera = None
        for _, dev in outputs.values():
            self.rt.cudaFree(dev)
        for d in buffers:
            if d is not None:
                self.rt.cudaFree(d)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


__all__ = ["TensorRTBackend"]
