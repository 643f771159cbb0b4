"""Analytics: sessions derived from raw events in SQL, and the policy reports over them.

Public surface: load and list the shipped report files, run one on a DuckDB connection (read-only
is enough), render its result as a table citing the clause, CSV or JSON.
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
