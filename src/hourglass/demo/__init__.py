"""``hourglass demo``: the story on the bundled digits (``story``), its anomaly and denoising sections
(``anomaly``, ``denoise``), and the self-contained HTML report they are written into (``report``).
"""
