"""Where and how a network runs: the device and CPU threads (``device``), and forward passes over many rows
(``forward``), shared by training, the estimators, ``hourglass.inference`` and the command line.
"""
