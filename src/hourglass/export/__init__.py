"""A fitted model as ONNX graphs that take raw rows (``export_onnx``), and the proof that they compute what the
model computes, beside the explorer's JavaScript decoder (``verify``). ``onnx``, ``onnxscript`` and
``onnxruntime`` are an optional extra, imported only when an export is written or run."""

from hourglass.export.onnx import Runtime, export_onnx, read_export
from hourglass.export.verify import Report, verify

__all__ = ["Report", "Runtime", "export_onnx", "read_export", "verify"]
