"""A/B timing of the Monarch multiply kernel: a git revision's ``monarch_sci/multiply.py`` against the working tree.

Both versions (and fly's ``BlockdiagButterflyMultiply`` from ``benchmarks/monarch_multiply.py``) run in one
process, interleaved round-robin, CPU-time clock, median of ``--repeats``; square Monarch, float32, batch 2048.
On a noisy shared machine this is how a kernel change is judged (the ratio new/old within one run). The old
module is loaded from ``git show REV:monarch_sci/multiply.py``; the forward outputs are checked for equality.

    OMP_NUM_THREADS=1 python benchmarks/monarch_multiply_ab.py HEAD~1 --sizes 1024 4096
    OMP_NUM_THREADS=1 python benchmarks/monarch_multiply_ab.py HEAD --chunk-bytes 1048576   # chunk size A/B
"""

from __future__ import annotations

import math
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _timing import interleaved_median  # noqa: E402
from monarch_multiply import fly_multiply  # noqa: E402

import monarch_sci.multiply as new  # noqa: E402
from monarch_sci.cli.scripts import add_flags, run_script, script_parser  # noqa: E402


def load_revision(rev: str) -> types.ModuleType:
    src = subprocess.check_output(["git", "show", f"{rev}:monarch_sci/multiply.py"], cwd=HERE.parent, text=True)
    mod = types.ModuleType("multiply_at_" + rev.replace("~", "_").replace("^", "_"))
    exec(compile(src, f"{rev}:monarch_sci/multiply.py", "exec"), mod.__dict__)
    return mod


def ab_size(n: int, old: types.ModuleType, repeats: int) -> None:
    """Print A, B and fly times (forward, forward+backward) at size ``n``."""
    m = math.isqrt(n)
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2048, n, generator=g)
    r_blocks, l_blocks = (torch.randn(m, m, m, generator=g) / math.sqrt(m) for _ in range(2))
    grad_y = torch.randn(2048, n, generator=g)
    same = torch.equal(old.monarch_multiply(x, r_blocks, l_blocks), new.monarch_multiply(x, r_blocks, l_blocks))
    leaves = [t.clone().requires_grad_(True) for t in (x, r_blocks, l_blocks)]

    def fwd_bwd(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            for t in leaves:
                t.grad = None
            fn(*leaves).backward(grad_y)

        return run

    kernels = {"A": old.monarch_multiply, "B": new.monarch_multiply, "fly": fly_multiply}
    for mode in ("forward", "forward+backward"):
        if mode == "forward":
            fns = {k: (lambda f=f: f(x, r_blocks, l_blocks)) for k, f in kernels.items()}
        else:
            fns = {k: fwd_bwd(f) for k, f in kernels.items()}
        ms = {k: 1e3 * v for k, v in interleaved_median(fns, repeats, warmup=2).items()}
        print(
            f"n={n} {mode}: "
            + "  ".join(f"{k} {v:.1f} ms" for k, v in ms.items())
            + f"  | B/A {ms['B'] / ms['A']:.3f}  fly/A {ms['fly'] / ms['A']:.2f}  fly/B {ms['fly'] / ms['B']:.2f}"
            + ("" if same else "  (forward outputs differ)"),
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    parser = script_parser(__doc__)
    parser.add_argument("rev", help="git revision of the old kernel (A)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--repeats", type=int, default=9)
    add_flags(parser, "threads", threads=1)
    parser.add_argument("--chunk-bytes", type=int, default=None, help="override _CHUNK_BYTES of the new kernel (B)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    old = load_revision(args.rev)
    if args.chunk_bytes is not None:
        new._CHUNK_BYTES = args.chunk_bytes
    for n in args.sizes:
        ab_size(n, old, args.repeats)


if __name__ == "__main__":
    sys.exit(run_script(main))
