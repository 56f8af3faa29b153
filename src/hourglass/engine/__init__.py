"""The training engine under ``Autoencoder``: the loop (``train``), checkpoints and resuming (``checkpoint``),
training on several processes (``distributed``), the device and threads (``runtime``), forward passes over
many rows (``forward``), the neighbour term (``neighbors``), the prior over codes that ``sample`` draws from
(``prior``), model folders on disk (``modelfile``) and the network and scaling they describe (``folder``).

Nothing here knows about estimators: it takes a network from ``hourglass.models`` and arrays from ``hourglass.data``.
"""
