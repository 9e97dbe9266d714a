"""Shared by every lineage: ONNX export, precision variants with their gates, and measurement.

Named ``conversion`` so that it never shadows the ``onnx`` package.
"""
