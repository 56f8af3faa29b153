"""Figures that show what an autoencoder learned; each returns a matplotlib Figure (or GIF bytes).

Nothing here touches pyplot: figures are built on the Agg canvas and saved with ``save_png``.
"""

from hourglass.viz.anomaly import error_gallery, score_histogram
from hourglass.viz.architecture import hourglass_diagram
from hourglass.viz.figure import png_bytes, save_bytes, save_png
from hourglass.viz.inputs import inputs
from hourglass.viz.interpolate import PATHS, walk, walk_gif, walk_strip
from hourglass.viz.latent import Plane, latent_map
from hourglass.viz.loss import loss_curve
from hourglass.viz.manifold import manifold, manifold_grid
from hourglass.viz.reconstructions import reconstructions
from hourglass.viz.samples import nearest_training, sample_grid, samples_beside_nearest

__all__ = [
    "PATHS",
    "Plane",
    "error_gallery",
    "hourglass_diagram",
    "inputs",
    "latent_map",
    "loss_curve",
    "manifold",
    "manifold_grid",
    "nearest_training",
    "png_bytes",
    "reconstructions",
    "sample_grid",
    "samples_beside_nearest",
    "save_bytes",
    "save_png",
    "score_histogram",
    "walk",
    "walk_gif",
    "walk_strip",
]
