"""Tests of lrkit.report: the HTML report, and how a real browser renders it."""
