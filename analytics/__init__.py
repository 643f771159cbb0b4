"""Analytics: sessions derived from raw events in SQL, and the policy reports over them."""

from analytics.output import FORMATS, render
from analytics.report_files import ReportFile, list_reports, load_report
from analytics.run import ReportResult, run_report

__all__ = [
    "FORMATS",
    "ReportFile",
    "ReportResult",
    "list_reports",
    "load_report",
    "render",
    "run_report",
]
