"""Training a network: the loop (``train``), checkpoints and resuming (``checkpoint``), Adam (``adam``), several
processes (``distributed``), what a fit is measured against (``baselines``), the neighbor term (``neighbors``) and
the prior over codes that ``sample`` draws from (``prior``).

Nothing here knows about estimators: it takes a network from ``hourglass.models`` and arrays from ``hourglass.data``.
"""
