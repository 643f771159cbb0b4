"""The commaudit collector: enrolls devices, receives their events over gRPC, stores them in DuckDB.

Data flow, one module per stage: identity (which enrolled device or operator calls, from its
credential) -> validate (is it well-formed) -> admission (may it be taken now: device rate, free
disk) -> ingest (queue, group commit, ack after commit) with ledger (dedupe and seq gaps), encode
(events as an Arrow table) and store (the one DuckDB writer). Around it: credentials (the secrets
and their format), enrollment (tokens, devices, revocation as rows), tls (the collector's CA and
certificate), service and admin_service (the gRPC faces), server (wiring) and cli
(`commaudit-collector`).
"""
