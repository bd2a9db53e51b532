"""Audit report renderers: a self-contained offline HTML report and an Excel workbook."""

from drg_engine.audit.report.excel import write_excel
from drg_engine.audit.report.html import render_html, write_html

__all__ = ["render_html", "write_excel", "write_html"]
