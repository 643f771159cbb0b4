"""Analytics: the policy reports, one SQL file each, over the tables the collector publishes.

Public surface: load and list the shipped report files, run one on a DuckDB connection (read-only
is enough: the attached lake), render its result as a table citing the clause, CSV or JSON.
"""

from analytics.output import FORMATS, render
from analytics.report_files import ReportFile, ReportFileError, list_reports, load_report
from analytics.run import ReportResult, run_report

__all__ = [
    "FORMATS",
    "ReportFile",
    "ReportFileError",
    "ReportResult",
    "list_reports",
    "load_report",
    "render",
    "run_report",
]
