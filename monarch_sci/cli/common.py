"""What every command shares: the flag vocabulary (defined once), devices, threads, and the user-error path.

Flags
    :func:`add_flags` adds shared flags by name, so that ``--batch-size``, ``--acceleration(s)``,
    ``--mask-policy``, ``--fourier``, ``--device``, ``--threads``, ``--seed``, ``--out``, ``--progress`` /
    ``--quiet`` (alias ``--no-progress``) mean the same everywhere. Old spellings (``--batch``, ``--accel``,
    ``--policy``, ``--transform``) still work for one release and print a deprecation warning.
Errors
    A user error (bad file, bad value, missing permission, busy file, missing device) ends the command with
    one line ``monarch-sci GROUP COMMAND: error: ...`` naming the culprit, and exit status 2 (3 for a
    training run that diverged); the traceback only with ``monarch-sci --debug``. Anything else is a bug and
    keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from monarch_sci.training.progress import PROGRESS_STYLES

__all__ = [
    "EXIT_NONFINITE",
    "EXIT_USER",
    "Flag",
    "Parser",
    "UserError",
    "add_command",
    "add_flags",
    "cpu_device",
    "from_flags",
    "guarded_outputs",
    "number_or",
    "report_error",
    "resolve_device",
    "set_threads",
]

EXIT_USER = 2
EXIT_NONFINITE = 3


class UserError(Exception):
    """A mistake in a command's arguments or inputs; the message says what was expected and what arrived."""


class Parser(argparse.ArgumentParser):
    """The parser of ``monarch-sci`` and its sub-commands: a usage error is two lines, the usage pointer and the
    error (not argparse's whole usage block, which buries the one line that matters)."""

    def error(self, message: str):
        self.exit(EXIT_USER, f"usage: {self.prog} ... (see {self.prog} --help)\n{self.prog}: error: {message}\n")


class Flag(argparse.Action):
    """Store a value (or a constant for a switch); warn when a deprecated spelling was used.

    ``parser.add_argument("--new", "--old", action=Flag, deprecated=("--old",), ...)`` renames a flag
    while the old spelling keeps working for one release.
    """

    def __init__(self, option_strings, dest, *, deprecated: Sequence[str] = (), **kwargs) -> None:
        self.deprecated = tuple(deprecated)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string in self.deprecated:
            new = next(o for o in self.option_strings if o not in self.deprecated)
            print(f"{parser.prog}: warning: {option_string} is deprecated; use {new}", file=sys.stderr)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


class _Progress(argparse.Action):
    """``--progress STYLE`` (or ``--quiet``: ``none``) sets ``progress_style`` and ``no_progress`` together."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        style = self.const if self.nargs == 0 else values
        namespace.progress_style, namespace.no_progress = style, style == "none"


def _switch(p: argparse.ArgumentParser, *names: str, help: str, deprecated: Sequence[str] = ()) -> None:
    p.add_argument(*names, action=Flag, nargs=0, const=True, default=False, deprecated=deprecated, help=help)


OVERWRITE_HELP = "replace finished outputs in --out instead of refusing"

#: name -> (option strings, deprecated spellings among them, keyword arguments of add_argument)
_FLAGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]] = {
    "batch_size": (("--batch-size", "--batch"), ("--batch",), {"type": int, "help": "samples per optimiser step"}),
    "seed": (("--seed",), (), {"type": int, "default": 0, "help": "random seed"}),
    "threads": (("--threads",), (), {"type": int, "default": None, "help": "torch CPU threads (default: torch's)"}),
    "device": (
        ("--device",),
        (),
        {"default": "auto", "help": "auto | cpu | cuda | cuda:K (auto: the GPU when one is present, else the CPU)"},
    ),
    "precision": (
        ("--precision",),
        (),
        {
            "choices": ("fp32", "bf16"),
            "default": "fp32",
            "help": "bf16: bfloat16 autocast for the real layers in training (lift, skips, projection, CNNs); FFTs, "
            "SENSE and Monarch factors stay float32; evaluation is float32",
        },
    ),
    "compile": (
        ("--compile",),
        (),
        {
            # monarch_sci.training.step.COMPILE_MODES (not imported: --help stays light; a test checks)
            "choices": ("none", "default", "reduce-overhead", "max-autotune"),
            "default": "none",
            "help": "torch.compile mode of the training loss (none: eager; recorded in the run record)",
        },
    ),
    "fourier": (
        ("--fourier", "--transform"),
        ("--transform",),
        {"choices": ("fft", "monarch"), "default": "fft", "help": "the swappable Fourier transform"},
    ),
    "factor_start": (
        ("--factor-start",),
        (),
        {"type": int, "default": 0, "help": "epochs the Monarch factors stay frozen before they start learning"},
    ),
    "factor_warmup": (
        ("--factor-warmup",),
        (),
        {
            "type": int,
            "default": 0,
            "help": "epochs after --factor-start over which the factors' lr ramps linearly up (times the schedule)",
        },
    ),
    "factor_anchor": (
        ("--factor-anchor",),
        (),
        {
            "type": float,
            "default": 0.0,
            "help": "weight of the penalty sum ||θ-θ0||²/||θ0||² pulling the Monarch factors to their start (the DFT)",
        },
    ),
    "monarch_init": (
        ("--monarch-init",),
        (),
        {
            "choices": ("dft", "random"),
            "default": "dft",
            "help": "Monarch factors start as the exact DFT, or random with the DFT's block norms (a control)",
        },
    ),
    "acceleration": (
        ("--acceleration", "--accel"),
        ("--accel",),
        {"type": int, "default": 4, "choices": (2, 4, 8), "help": "undersampling factor"},
    ),
    "accelerations": (
        ("--accelerations",),
        (),
        {"type": int, "nargs": "+", "default": [2, 4], "choices": (2, 4, 8), "help": "undersampling factors"},
    ),
}


def add_flags(p: argparse.ArgumentParser, *names: str, **defaults: Any) -> None:
    """Add the shared flags ``names`` to ``p``; ``defaults`` overrides a flag's default (``None``: required).

    ``"out"`` (with ``out_help=``; required unless ``out=`` gives a default, ``out_type=`` converts it),
    ``"cpu_device"`` (``--device`` of a command whose work cannot run on a GPU: check it with
    :func:`cpu_device`), ``"coil_maps"`` (``--calib`` unless ``calib=False``, with ``calib_help=``;
    ``--maps-kernel``, ``--maps-crop``, ``--maps-thresh``, ``--maps-min-coverage``),
    ``"no_progress"``, ``"resume"``, ``"overwrite"``, ``"mask_policy"`` (with
    ``mask_policies=``), ``"mask_type"`` (with ``mask_types=``, ``mask_type_help=``) are built here too, so
    each has one spelling and one help text.
    """
    for name in names:
        if name == "no_progress":  # --progress STYLE, --quiet / --no-progress: args.progress_style, args.no_progress
            p.add_argument("--progress", dest="progress_style", action=_Progress, choices=PROGRESS_STYLES,
                           default="auto", help="bar (a terminal), line (one line per epoch or stage, for logs), none; "
                           "auto: bar when stderr is a terminal, else line")  # fmt: skip
            p.add_argument("--quiet", "--no-progress", dest="progress_style", action=_Progress, nargs=0, const="none",
                           default=argparse.SUPPRESS, help="no progress display (--progress none)")  # fmt: skip
            p.set_defaults(no_progress=False)
        elif name == "resume":
            _switch(p, "--resume", help="continue the run in --out from its last checkpoint")
        elif name == "overwrite":  # the command decides what an existing --out means (resume, reuse, replace)
            if "--overwrite" in p._option_string_actions:  # added with "out" below
                p._option_string_actions["--overwrite"].help = OVERWRITE_HELP
            else:
                _switch(p, "--overwrite", help=OVERWRITE_HELP)
            p.set_defaults(out_is_new=False)
        elif name == "coil_maps":  # the ESPIRiT settings (CoilMapSpec; None: its defaults, named in the help)
            if defaults.pop("calib", True):
                p.add_argument("--calib", type=int, default=None, help=defaults.pop("calib_help", "coil maps: side "
                               "of the ESPIRiT calibration block (default: the acquisition's fully sampled centre, "
                               "at most 24; sigpy: 24)"))  # fmt: skip
            p.add_argument(
                "--maps-kernel",
                type=int,
                default=None,
                help="coil maps: ESPIRiT kernel side (default: min(6, max(3, calib // 2)); sigpy: 6)",
            )
            # the defaults of CoilMapSpec (kept here so that --help imports nothing heavy; a test checks them)
            p.add_argument(
                "--maps-crop", type=float, default=0.8, help="coil maps: ESPIRiT eigenvalue crop (sigpy: 0.95)"
            )
            p.add_argument(
                "--maps-thresh",
                type=float,
                default=0.02,
                help="coil maps: ESPIRiT singular-value threshold (sigpy: 0.02)",
            )
            p.add_argument("--maps-min-coverage", type=float, default=0.95,
                           help="coil maps: recompute with crop 0 when the maps cover less of the object than this "
                           "(0: never, as sigpy)")  # fmt: skip
        elif name == "cpu_device":
            p.add_argument(
                "--device",
                default="cpu",
                help="cpu (auto: the same): this command's work runs on the CPU only; cuda is refused",
            )
        elif name == "out":
            kind = {"type": defaults.pop("out_type")} if "out_type" in defaults else {}
            where = {"default": defaults.pop("out")} if "out" in defaults else {"required": True}
            p.add_argument("--out", **where, **kind, help=defaults.pop("out_help", "output folder"))
            command = p.get_default("func") is not None  # a sub-command (add_command), not a script's parser
            if command and "overwrite" not in names and "--overwrite" not in p._option_string_actions:
                # an existing --out is refused unless --overwrite (guarded_outputs), unless the command adds
                # "overwrite" itself (then it resumes or reuses what it finds)
                _switch(p, "--overwrite", help="replace an existing --out (kept until the new one is complete)")
                p.set_defaults(out_is_new=True)
        elif name == "mask_type":
            choices = defaults.pop("mask_types")
            p.add_argument(
                "--mask-type",
                choices=choices,
                default=defaults.pop("mask_type", choices[0]),
                help=defaults.pop("mask_type_help", "mask family: fastMRI line masks or 2-D Poisson-disc (sigpy)"),
            )
        elif name == "mask_policy":
            choices = defaults.pop("mask_policies", ("fixed", "volume", "slice"))
            default = defaults.pop("mask_policy", choices[-1])
            p.add_argument(
                "--mask-policy",
                "--policy",
                dest="mask_policy",
                action=Flag,
                deprecated=("--policy",),
                choices=choices,
                default=default,
                help="mask seeding: one mask for all (fixed), per volume, or per slice",
            )
        else:
            options, deprecated, kwargs = _FLAGS[name]
            kwargs = dict(kwargs)
            if name in defaults:
                value = defaults.pop(name)
                kwargs.pop("default", None)
                if value is None:
                    kwargs["required"] = True
                else:
                    kwargs["default"] = value
                    if " (default:" in kwargs.get("help", ""):  # the help names the default: name the new one
                        kwargs["help"] = kwargs["help"].split(" (default:")[0] + f" (default: {value})"
            p.add_argument(*options, dest=name, action=Flag, deprecated=deprecated, **kwargs)
    if defaults:
        raise TypeError(f"add_flags: unknown overrides {sorted(defaults)}")


def add_command(
    sub: argparse._SubParsersAction, name: str, func: Callable[[argparse.Namespace], int], *, help: str, **kw: Any
) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` shows every default."""
    p = sub.add_parser(name, help=help, formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kw)
    p.set_defaults(func=_guarded(func), command_prog=p.prog)  # the prefix of its error lines
    return p


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``func`` run inside :func:`guarded_outputs` (every sub-command obeys the output rules)."""

    def run(args: argparse.Namespace) -> int:
        with guarded_outputs(args):
            return func(args)

    run.__wrapped__ = func
    return run


def from_flags(cls: type, args: argparse.Namespace, **overrides: Any):
    """The dataclass ``cls`` built from the parsed flags of the same names; ``overrides`` set the others.

    Every flag whose destination is a field of ``cls`` fills it, so a typed spec and its command line cannot
    drift apart field by field; fields spelled differently on the command line come in ``overrides``.
    """
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = set(overrides) - names
    if unknown:
        raise TypeError(f"from_flags: {cls.__name__} has no fields {sorted(unknown)}")
    values = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**{**values, **overrides})


def resolve_device(spec: str):
    """``torch.device`` for ``--device`` (``auto`` → the local rank's GPU under torchrun, else GPU 0 or the CPU)."""
    import torch

    rank = int(os.environ.get("LOCAL_RANK", "0"))
    if spec == "auto":
        return torch.device(f"cuda:{rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UserError(f"--device: expected auto, cpu, cuda or cuda:K, got {spec!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "is a CPU-only build" if torch.version.cuda is None else "sees no GPU"
            raise UserError(f"--device {spec}: this torch ({torch.__version__}) {why}; use --device cpu (or auto)")
        index = rank if device.index is None and "LOCAL_RANK" in os.environ else (device.index or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) visible")
        return torch.device(f"cuda:{index}")
    if device.type != "cpu":
        raise UserError(f"--device: expected auto, cpu, cuda or cuda:K, got {spec!r}")
    return device


def cpu_device(spec: str, work: str) -> str:
    """``"cpu"`` for the ``--device`` of a CPU-only command (``cpu`` or ``auto``); any other device is a user error
    saying that ``work`` runs on the CPU only (never a silent fallback)."""
    if spec in ("cpu", "auto"):
        return "cpu"
    raise UserError(f"--device {spec}: {work} runs on the CPU only; use --device cpu (or auto)")


def number_or(word: str) -> Callable[[str], float | str]:
    """A flag's ``type=``: a number (``float``), or the keyword ``word`` returned as is (e.g. ``--lam auto``)."""

    def convert(text: str) -> float | str:
        if text == word:
            return text
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number or {word!r}, got {text!r}") from None

    return convert


def set_threads(n: int | None) -> None:
    """``torch.set_num_threads(n)`` when ``--threads`` was given (a positive count)."""
    if n is None:
        return
    if n < 1:
        raise UserError(f"--threads: expected a positive count, got {n}")
    import torch

    torch.set_num_threads(int(n))


#: What a job reads and writes, by argparse destination -> the flag its messages name.
_INPUTS = {"inp": "--in", "data": "--data", "val": "--val", "test": "--test", "input": "INPUT", "mask": "--mask"}
_OUTPUTS = {"out": "--out", "png": "--png"}


@contextlib.contextmanager
def guarded_outputs(args: argparse.Namespace) -> Iterator[None]:
    """The output rules of every job, applied around each sub-command (:func:`add_command`): no output aliases
    an input; an existing ``--out`` is refused without ``--overwrite`` (commands that resume or reuse what they
    find in ``--out`` decide themselves); ``--out`` is locked against a second writer while the job runs
    (:mod:`monarch_sci.training.outputs`)."""
    from monarch_sci.training.outputs import check_no_alias, check_output_free, output_lock

    def paths(table: dict[str, str]) -> dict[str, str]:
        return {flag: v for dest, flag in table.items() if isinstance(v := getattr(args, dest, None), str) and v}

    check_no_alias(paths(_OUTPUTS), paths(_INPUTS))
    out = paths(_OUTPUTS).get("--out")
    if out and getattr(args, "out_is_new", False):
        check_output_free(out, overwrite=args.overwrite)
    with output_lock(out) if out else contextlib.nullcontext():
        yield


#: What h5py says of a file that is not (or no longer) a whole HDF5 file.
_HDF5_DAMAGE = ("truncated file", "file signature not found", "bad object header", "wrong b-tree signature",
                "bad symbol table", "bad heap", "addr overflow", "checksum")  # fmt: skip


def _hdf5_file(err: BaseException) -> str | None:
    """The file h5py was opening when ``err`` arose (h5py's errors do not carry it): from the traceback."""
    name, tb = None, err.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if "h5py" in frame.f_code.co_filename and isinstance(frame.f_locals.get("name"), (str, bytes)):
            name = frame.f_locals["name"]
        tb = tb.tb_next
    return os.fsdecode(name) if name is not None else None


def _user_message(err: BaseException) -> tuple[int, str] | None:
    """``(exit status, message)`` for an error a user can fix, ``None`` for a bug (keep its traceback)."""
    from monarch_sci.training.trainer import NonFiniteError

    if isinstance(err, UserError):
        return EXIT_USER, str(err)
    if isinstance(err, NonFiniteError):
        return EXIT_NONFINITE, f"{err} (lower the learning rate, or check the data for NaN/Inf)"
    text = str(err).lower()
    if isinstance(err, BlockingIOError) or (isinstance(err, OSError) and "unable to lock file" in text):
        name = getattr(err, "filename", None) or _hdf5_file(err) or "a file"
        return EXIT_USER, f"{name} is in use by another process (busy file); wait for it or choose another --out"
    if isinstance(err, OSError) and any(sign in text for sign in _HDF5_DAMAGE):
        name = _hdf5_file(err) or "an HDF5 file"
        return EXIT_USER, f"{name}: not a readable HDF5 file, truncated or corrupt ({err}); restore or regenerate it"
    if isinstance(err, OSError):
        name = err.filename or _hdf5_file(err) or ""
        what = err.strerror or str(err)
        return EXIT_USER, f"{name}: {what}" if name else what
    if isinstance(err, (ValueError, KeyError, RuntimeError)) and type(err).__module__.startswith("monarch_sci"):
        return EXIT_USER, str(err)  # our own error classes (StoreError, FastMRIFileError, ...)
    if isinstance(err, ValueError):
        return EXIT_USER, str(err)
    return None


def report_error(err: BaseException, prog: str) -> int | None:
    """Print a user error as one line and return its exit status; ``None`` when ``err`` is a bug."""
    found = _user_message(err)
    if found is None:
        return None
    status, message = found
    print(f"{prog}: error: {message}", file=sys.stderr)
    return status
