"""llama.cpp's library: importing it once, probing what this CPU can run, and its quantizer.

The only place ``llama_cpp`` is imported (with the rest of this package, lazily): the other
modules get the bindings from ``library()``.
"""

from __future__ import annotations

import ctypes
import logging
import re
from pathlib import Path
from typing import Any

from edgewise.config import Settings
from edgewise.engines.prefix_store import file_id
from edgewise.errors import EdgewiseError, ModelLoadError
from edgewise.gguf import GGUFInfo

log = logging.getLogger("edgewise")

# ggml types whose matrices llama.cpp repacks into interleaved AVX2 kernels on x86:
# Q4_0, Q4_K, IQ4_NL
REPACKED_TYPES = {2, 12, 20}

_llama: Any = None
_log_callback: Any = None


def library() -> Any:
    """Import llama_cpp once, silencing its C logging unless EDGEWISE_LLAMA_LOG is set."""
    global _llama, _log_callback
    if _llama is None:
        import os

        import llama_cpp
        import llama_cpp._internals  # noqa: F401  (LlamaModel / LlamaContext wrappers)

        if not os.environ.get("EDGEWISE_LLAMA_LOG"):

            @llama_cpp.llama_log_callback
            def _quiet(level: int, text: bytes, user_data: Any) -> None:
                if level == 3:  # GGML_LOG_LEVEL_ERROR
                    log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

            _log_callback = _quiet  # keep a reference: C holds only the pointer
            llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        _llama = llama_cpp
    return _llama


_PROBE = """
import ctypes, sys
import llama_cpp
from llama_cpp._internals import LlamaModel, LlamaContext
quiet = llama_cpp.llama_log_callback(lambda *a: None)  # kept alive: C holds only the pointer
llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
mp = llama_cpp.llama_model_default_params()
m = LlamaModel(path_model=sys.argv[1], params=mp, verbose=False)
cp = llama_cpp.llama_context_default_params(); cp.n_ctx = 64; cp.n_batch = 64; cp.n_ubatch = 64
c = LlamaContext(model=m, params=cp, verbose=False)
toks = (llama_cpp.llama_token * 8)(*range(10, 18))
sys.exit(llama_cpp.llama_decode(c.ctx, llama_cpp.llama_batch_get_one(toks, 8)))
"""


def _library_file(pattern: str) -> Path | None:
    """llama-cpp-python's shared library matching ``pattern`` (the file, not a symlink)."""
    import llama_cpp

    libs = sorted(Path(llama_cpp.__file__).parent.glob(f"lib/{pattern}"))
    return next((p for p in libs if not p.is_symlink()), None)


def library_id() -> str:
    """The llama.cpp build in use, for cache keys."""
    lib = _library_file("libllama*.so*")
    return file_id(lib) if lib is not None else str(getattr(library(), "__version__", "?"))


def extra_buffers_safe() -> bool:
    """Whether llama.cpp's extra weight buffers (repacking, AMX) run on this CPU.

    A CPU can advertise AMX that the (virtual) machine does not let a process use; llama.cpp
    then dies with SIGILL on the first matrix multiply. Where the CPU advertises AMX and the
    library was built with AMX kernels, a throw-away subprocess tries once and the verdict is
    cached per library build. ``EDGEWISE_EXTRA_BUFFERS=0|1`` overrides.
    """
    import hashlib
    import os
    import subprocess
    import sys
    import tempfile

    forced = os.environ.get("EDGEWISE_EXTRA_BUFFERS")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        cpu_flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True
    if "amx_tile" not in cpu_flags:
        return True
    lib = _library_file("libggml-cpu*.so*")
    if lib is None:
        return True
    key = hashlib.sha256(file_id(lib).encode()).hexdigest()[:16]
    verdict = Path(tempfile.gettempdir()) / f"edgewise-extra-buffers-{key}"
    if verdict.exists():  # checked before reading the library: this runs on every load
        return verdict.read_text().strip() == "ok"
    if b"ggml_backend_amx" not in lib.read_bytes():
        verdict.write_text("ok")
        return True
    from edgewise.bundled import smollm2_path

    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(smollm2_path())], capture_output=True, timeout=120
        )
        ok = proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired, EdgewiseError):
        ok = False
    if not ok:
        log.info("this CPU advertises AMX but cannot run it; llama.cpp extra buffers disabled")
    verdict.write_text("ok" if ok else "bad")
    return ok


class _BuftOverride(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


def _repack_buffer_type() -> int | None:
    """llama.cpp's CPU_REPACK weight buffer type, looked up through ggml's registry."""
    try:
        from llama_cpp._ggml import libggml as g
    except Exception:  # pragma: no cover - a build without the ggml bindings
        return None
    vp = ctypes.c_void_p
    g.ggml_backend_dev_by_type.restype, g.ggml_backend_dev_by_type.argtypes = vp, [ctypes.c_int]
    g.ggml_backend_dev_backend_reg.restype, g.ggml_backend_dev_backend_reg.argtypes = vp, [vp]
    g.ggml_backend_reg_get_proc_address.restype = vp
    g.ggml_backend_reg_get_proc_address.argtypes = [vp, ctypes.c_char_p]
    g.ggml_backend_buft_name.restype, g.ggml_backend_buft_name.argtypes = ctypes.c_char_p, [vp]
    dev = g.ggml_backend_dev_by_type(0)  # GGML_BACKEND_DEVICE_TYPE_CPU
    if not dev:
        return None
    fn = g.ggml_backend_reg_get_proc_address(
        g.ggml_backend_dev_backend_reg(dev), b"ggml_backend_dev_get_extra_bufts"
    )
    if not fn:
        return None
    bufts = ctypes.CFUNCTYPE(ctypes.POINTER(vp), vp)(fn)(dev)
    i = 0
    while bufts and bufts[i]:
        if g.ggml_backend_buft_name(bufts[i]) == b"CPU_REPACK":
            return int(bufts[i])
        i += 1
    return None


def repack_overrides(info: GGUFInfo) -> Any:
    """Tensor overrides that put Q4_0, Q4_K and IQ4_NL matrices in llama.cpp's repacked layout.

    Used when the extra buffers as a whole must stay off (see ``extra_buffers_safe``): the
    AMX buffer would crash, but the repacked AVX2 kernels are safe and 1.7-2.3x faster on
    prompts here than the plain layout. Only tensors the repacker accepts are named
    (REPACKED_TYPES, 2-D, rows a multiple of 8, inside a block), so no tensor is left without
    a kernel.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    if " avx2" not in flags:
        return None
    names = [
        t.name
        for t in info.tensors
        if t.ggml_type in REPACKED_TYPES
        and len(t.shape) == 2
        and t.shape[1] % 8 == 0
        and t.name.startswith("blk.")
    ]
    if not names:
        return None
    buft = _repack_buffer_type()
    if buft is None:
        return None
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")$"
    arr = (_BuftOverride * 2)()
    arr[0].pattern = pattern.encode()
    arr[0].buft = buft
    return arr


def quantize_file(src: Path, dst: Path, ftype: int, threads: int | None = None) -> None:
    """llama.cpp's quantizer: ``src`` (float weights) to ``dst`` as llama_ftype ``ftype``."""
    lib = library()
    params = lib.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads or Settings.from_env().threads
    rc = lib.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0:
        raise ModelLoadError(str(src), f"llama.cpp could not quantize it (code {rc})")
