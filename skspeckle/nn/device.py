"""Choosing the torch device an estimator computes on."""

import contextlib
import warnings

import torch

__all__ = [
    "PRECISIONS",
    "resolve_device",
    "native_bfloat16",
    "resolve_precision",
    "autocast",
    "torch_seeded",
]

PRECISIONS = ("float32", "bfloat16", "float16")

# What bfloat16 costs on a CPU without bfloat16 instructions, measured on the results page
# (docs/results.md, "Precision"): the 48 x 48 SpeckleNN forward pass, AVX-512 BF16 disabled.
_EMULATED_BF16_COST = "5-8x slower than float32"
# torch's own checks of the CPU features its bfloat16 kernels use (private, present since
# torch 2.2; native_bfloat16 falls back to /proc/cpuinfo without them).
_CPU_BF16_CHECKS = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def resolve_device(device="auto"):
    """Turn a user's ``device`` parameter into a :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, str or torch.device, default="auto"
        ``"auto"`` picks the current CUDA device when one is available and the CPU otherwise.
        Any string torch understands (``"cuda:1"``) or a ``torch.device`` is accepted as is,
        after checking that it can be used on this machine.

    Returns
    -------
    device : torch.device

    Raises
    ------
    ValueError
        If ``device`` is not a device name torch understands.
    RuntimeError
        If a CUDA device is requested but CUDA is not available, or the requested CUDA index
        does not exist on this machine.
    TypeError
        If ``device`` is neither a string nor a ``torch.device``.
    """
    if isinstance(device, str):
        if device == "auto":
            return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(
                f"device={device!r} is not a device torch understands; use 'auto', 'cpu', "
                "'cuda' or 'cuda:<index>'."
            ) from exc
    elif not isinstance(device, torch.device):
        raise TypeError(
            f"device must be 'auto', a device name such as 'cpu' or 'cuda:0', or a "
            f"torch.device; got {type(device).__name__}."
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={str(device)!r} was requested but CUDA is not available on this "
                "machine (no GPU, or torch was built without CUDA support). Use device='auto' "
                "to fall back to the CPU, or device='cpu'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device={str(device)!r} was requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif device.type != "cpu":
        # mps, xpu, ...: let torch decide at first use, but only if the backend reports itself.
        backend = getattr(torch.backends, device.type, None) or getattr(torch, device.type, None)
        is_available = getattr(backend, "is_available", None)
        if is_available is not None and not is_available():
            raise RuntimeError(f"device={str(device)!r} was requested but is not available.")
    return device


def native_bfloat16(device):
    """Whether ``device`` computes bfloat16 in hardware.

    Parameters
    ----------
    device : torch.device

    Returns
    -------
    bool
        CUDA: :func:`torch.cuda.is_bf16_supported` (Ampere and later). CPU: AVX-512 BF16 or
        AMX, as torch's CPU dispatch reports them (``torch.cpu._is_avx512_bf16_supported``,
        ``torch.cpu._is_amx_tile_supported``), else the ``avx512_bf16`` / ``amx_bf16`` flags
        of ``/proc/cpuinfo``. Without them torch emulates bfloat16 in float32 code and
        mixed precision is slower than float32. Other devices: False.
    """
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in _CPU_BF16_CHECKS]
    if all(check is not None for check in checks):
        return any(bool(check()) for check in checks)
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(
                (line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []
            )
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision, device):
    """Turn a ``precision`` parameter into one of :data:`PRECISIONS` for ``device``.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16", "float16"}
        ``"auto"``: ``"bfloat16"`` where ``device`` has native bfloat16
        (:func:`native_bfloat16`), else ``"float32"``. The others are returned as they are.
    device : torch.device

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``precision`` is none of these.
    """
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}; got {precision!r}.")
    return precision


def autocast(device, precision="float32"):
    """The context in which a network runs at ``precision`` on ``device``.

    Parameters
    ----------
    device : torch.device
    precision : {"float32", "bfloat16", "float16"}, default="float32"
        ``"float32"``: full precision (a no-op context). ``"bfloat16"`` and ``"float16"``:
        mixed precision with :class:`torch.autocast` (Micikevicius et al., "Mixed Precision
        Training", ICLR 2018): convolutions and matrix products run in the 16-bit type,
        weights and reductions stay float32.

    Returns
    -------
    context manager

    Raises
    ------
    ValueError
        If ``precision`` is not one of :data:`PRECISIONS`.

    Warns
    -----
    UserWarning
        For ``"float16"`` on the CPU, where it is emulated and much slower than float32, and
        for ``"bfloat16"`` on a device without native bfloat16 (:func:`native_bfloat16`),
        where it is slower than float32 too; on CPUs with bfloat16 instructions it is faster
        (both measured on the results page, ``docs/results.md``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if precision == "float32":
        return contextlib.nullcontext()
    if precision == "float16" and device.type == "cpu":
        warnings.warn(
            "precision='float16' on the CPU is emulated and slow; use precision='bfloat16' "
            "on a CPU (or 'float32'), and 'float16' on CUDA.",
            UserWarning,
            stacklevel=3,
        )
    elif precision == "bfloat16" and not native_bfloat16(device):
        warnings.warn(
            f"precision='bfloat16' on {device.type} without native bfloat16 instructions is "
            f"emulated: measured {_EMULATED_BF16_COST} (docs/results.md, Precision). Use "
            "precision='float32', or precision='auto', which picks bfloat16 only where the "
            "hardware has it.",
            UserWarning,
            stacklevel=3,
        )
    return torch.autocast(device.type, dtype=getattr(torch, precision))


@contextlib.contextmanager
def torch_seeded(seed, device):
    """Seed torch (CPU and ``device``) inside a fork of its random state; the global state
    is restored on exit."""
    fork_devices, device_type = [], "cuda"
    if device.type == "cuda":
        fork_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    elif device.type != "cpu":
        device_type = device.type
    with torch.random.fork_rng(devices=fork_devices, device_type=device_type):
        torch.random.default_generator.manual_seed(seed)
        if device.type == "cuda":
            with torch.cuda.device(fork_devices[0]):
                torch.cuda.manual_seed(seed)
        yield
