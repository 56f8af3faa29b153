"""The ``hourglass demo`` story on the bundled 49-pixel digits: train, draw every figure, write report.html.

The report is the list ``SECTIONS``, in order: each entry's function draws its own figures (written next to
the report too) and returns a ``report.Section``. A new part of the story is one function added to the list.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from hourglass import viz
from hourglass.atomic import refuse_foreign
from hourglass.demo import sections
from hourglass.demo.anomaly import anomaly_section
from hourglass.demo.denoise import denoise_section
from hourglass.demo.report import write_report
from hourglass.demo.run import QUICK_EPOCHS, QUICK_ROWS, DemoResult, DemoRun, SectionBuilder, train_demo, versus_pca
from hourglass.errors import HourglassError
from hourglass.params import FIGURE_FILES
from hourglass.storage.modelfile import OWN_FILES
from hourglass.viz.figure import png_bytes

SECTIONS: list[tuple[str, SectionBuilder]] = [
    ("input", sections.input_section),
    ("hourglass", sections.hourglass_section),
    ("loss", sections.loss_section),
    ("reconstructions", sections.reconstructions_section),
    ("latent", sections.latent_section),
    ("neighbors", sections.neighbors_section),
    ("walk", sections.walk_section),
    ("samples", sections.samples_section),
    ("denoise", denoise_section),
    ("anomaly", anomaly_section),
    ("explorer", sections.explorer_section),
    ("numbers", sections.numbers_section),
]


MARKER = ".hourglass-demo"  # written first into every demo folder: only such a folder is written into again
TITLE = "hourglass: what a 2-number code learns about digits"


def is_demo_folder(folder: str | Path) -> bool:
    """Whether ``folder`` is one ``run_demo`` wrote (it holds the marker)."""
    return (Path(folder) / MARKER).is_file()


def run_demo(out: str | Path = "runs/demo", verbose: bool = True, quick: bool = False) -> DemoResult:
    """Train the demo model and write its model folder, figures and report.html into ``out``.

    ``out`` must be new, empty, or a folder an earlier demo wrote: a folder of the user's is refused
    before any work. A run that fails removes what it wrote into a new or empty folder. ``quick``
    trains every model for ``QUICK_EPOCHS`` epochs on the first ``QUICK_ROWS`` digits only: the whole story
    in seconds, its figures those of an undertrained model (the report says so).
    """
    start = time.perf_counter()
    out = Path(out)
    existed = out.exists()
    if existed and (not out.is_dir() or (any(out.iterdir()) and not is_demo_folder(out))):
        raise HourglassError(f"{out}: exists and was not written by hourglass demo; choose a new or empty folder")
    # The demo writes its own files into its folder and leaves the rest; its model folder is replaced whole,
    # so one holding the user's things is refused now, not after training.
    refuse_foreign(out / "model", OWN_FILES)
    fresh = not existed or not any(out.iterdir())
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `hourglass demo`, which may replace what this folder holds\n")
    try:
        return _run_demo(out, verbose, start, QUICK_EPOCHS if quick else None, QUICK_ROWS if quick else None)
    except Exception:
        if fresh:  # nothing in it was the user's
            for path in out.iterdir():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            if not existed:
                out.rmdir()
        raise


def _run_demo(out: Path, verbose: bool, start: float, epochs: int | None, rows: int | None = None) -> DemoResult:
    if verbose:
        print(f"hourglass demo: {rows or 5000:,} MNIST digits at 7x7 (49 pixels) squeezed through a 2-number code")
        if epochs:
            print(f"quick run: every model trains {epochs} epochs, so the figures show undertrained models")
    result = train_demo(verbose, epochs=epochs, rows=rows)
    loss_png = png_bytes(viz.loss_curve(result.model.history_))
    result.model.save(out / "model", extra_files={FIGURE_FILES["loss"]: loss_png})
    if verbose:
        print(
            f"trained in {result.seconds:.1f} s; held-out MSE per pixel: autoencoder {result.mse:.4f}, "
            f"PCA-2 {result.pca_mse:.4f} ({versus_pca(result.mse, result.pca_mse)})"
        )
        print(f"model written to {out / 'model'}")
    run = DemoRun(result, out, epochs)
    sections = [s for _, build in SECTIONS if (s := build(run)) is not None]
    lead = (
        "An autoencoder learns, with no labels, to squeeze each 49-pixel digit through a 2-number code and "
        "rebuild it. This page shows what that code learned."
    )
    if epochs:
        lead += f" (A quick run: every model trained for {epochs} epochs only, so it has not learned much yet.)"
    report = write_report(out / "report.html", TITLE, sections, lead)
    if verbose:
        print(f"figures written to {out}/: {', '.join(run.files)}")
        print(f"report: {report.resolve()} (done in {time.perf_counter() - start:.1f} s)")
    return result
