"""What the PyTorch peers (peer_torch_model.py, peer_torch_ops.py, peer_torch_decode.py) share: the
choice of OpenBLAS's kernels, OpenBLAS's thread count beside torch's, and --threads parsing.

Torch-free on purpose: a peer imports it and calls pick_openblas_core() before `import torch`, as in

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from peer_torch_common import pick_openblas_core, ...
    pick_openblas_core()
    import torch
"""
import argparse
import ctypes
import os
import sys

_picked = False


def pick_openblas_core():
    """Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise some newer CPUs under KVM (a Sapphire
    Rapids guest reporting "Intel(R) Xeon(R) Processor") and falls back to its Prescott kernels, about 8x
    slower (15 vs 127 GFLOP/s at 1 thread on 2048 x 256 x 256). Unless OPENBLAS_CORETYPE is set, pick
    the best kernel the CPU's flags allow; it must be set before torch loads OpenBLAS. Later calls
    (a peer importing another peer) do nothing."""
    global _picked
    if _picked:
        return
    if "torch" in sys.modules:
        raise RuntimeError("pick_openblas_core() must run before torch is imported")
    _picked = True
    if "OPENBLAS_CORETYPE" in os.environ:
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    if "avx512f" in flags and "avx512bw" in flags and "avx512vl" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "SKYLAKEX"
    elif "avx2" in flags and "fma" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "HASWELL"


def openblas():
    """The OpenBLAS library torch loaded (ctypes), or None (another BLAS, or not found)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)  # already loaded: the same handle
            if hasattr(lib, "openblas_get_corename"):
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib
    except OSError:
        pass
    return None


def openblas_core():
    """The kernels OpenBLAS runs ("SkylakeX", "Prescott", ...), or None: the peers' "openblas_core"."""
    lib = openblas()
    return lib.openblas_get_corename().decode() if lib is not None else None


def set_threads(n):
    """torch.set_num_threads sets OpenMP's count only; a pthread OpenBLAS (Debian's) keeps one thread
    per core unless told, so its count is set here too."""
    import torch  # already loaded by the caller; imported here to keep this module torch-free

    torch.set_num_threads(n)
    lib = openblas()
    if lib is not None:
        lib.openblas_set_num_threads(n)


def thread_counts(text):
    """argparse type of --threads: "1,2" -> [1, 2], each at least 1."""
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts like 1,2, got '{text}'")
    return counts
