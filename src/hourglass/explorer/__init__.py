"""The latent-space explorer: a self-contained HTML page (``write_explorer``), the same page in a notebook
cell (``show``), or a local server (``hourglass.explorer.server.make_server``, what ``hourglass serve`` runs)."""

from hourglass.explorer.notebook import show
from hourglass.explorer.page import render_page, write_explorer
from hourglass.explorer.weights import browser_decodable, browser_encodable, export_decoder, export_encoder

__all__ = [
    "browser_decodable",
    "browser_encodable",
    "export_decoder",
    "export_encoder",
    "render_page",
    "show",
    "write_explorer",
]
