"""Training a network. The loop is ``train.fit``; beside it, one module each: the rows as tensors (``batches``),
the run's settings, record and standing (``state``), the learning rate (``schedule``), Adam (``adam``), starting or
resuming and when to checkpoint (``resume``), the checkpoint file (``checkpoint``), several processes
(``distributed``), what a fit is measured against (``baselines``), the neighbor term (``neighbors``) and the prior
over codes that ``sample`` draws from (``prior``).

Nothing here knows about estimators: it takes a network from ``hourglass.models`` and arrays from ``hourglass.data``.
"""
