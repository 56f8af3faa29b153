"""The latent-space explorer: a self-contained HTML page (``write_explorer``), the same page in a notebook
cell (``show``), or a local server (``hourglass.explorer.server.make_server``, what ``hourglass serve`` runs)."""

from hourglass.explorer.export import browser_decodable, export_decoder
from hourglass.explorer.notebook import show
from hourglass.explorer.page import render_page, write_explorer

__all__ = ["browser_decodable", "export_decoder", "render_page", "show", "write_explorer"]
