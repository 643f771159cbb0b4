"""The commaudit collector: receives agents' events over gRPC and stores them in DuckDB.

Data flow, one module per stage: identity (who calls) -> validate (is it well-formed) ->
admission (may it be taken now: device rate, free disk) -> ingest (queue, group commit, ack
after commit) with ledger (dedupe and seq gaps), encode (events as an Arrow table) and store
(the one DuckDB writer); service is the gRPC face, server wires the parts together, cli is the
`commaudit-collector` command.
"""

from collector.admission import Admission, AdmissionLimits
from collector.encode import encode_events
from collector.identity import DEVICE_ID_METADATA_KEY, Unauthenticated, device_from_metadata
from collector.ingest import Ack, CommitFailed, IngestLimits, Ingestor, IngestorClosed, Overloaded
from collector.ledger import DeviceState, DeviceUpdate, Gap, Plan, SeqLedger
from collector.server import CollectorServer, ConfigError, start_server
from collector.service import PUSHBACK_KEY, REJECTED_SEQ_KEY, AgentService
from collector.store import Store
from collector.validate import ForeignDevice, InvalidEvent, InvalidReport, Limits, validate_batch

__all__ = [
    "DEVICE_ID_METADATA_KEY",
    "PUSHBACK_KEY",
    "REJECTED_SEQ_KEY",
    "Ack",
    "Admission",
    "AdmissionLimits",
    "AgentService",
    "CollectorServer",
    "CommitFailed",
    "ConfigError",
    "DeviceState",
    "DeviceUpdate",
    "ForeignDevice",
    "Gap",
    "IngestLimits",
    "Ingestor",
    "IngestorClosed",
    "InvalidEvent",
    "InvalidReport",
    "Limits",
    "Overloaded",
    "Plan",
    "SeqLedger",
    "Store",
    "Unauthenticated",
    "device_from_metadata",
    "encode_events",
    "start_server",
    "validate_batch",
]
