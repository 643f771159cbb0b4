"""The commaudit collector: enrolls devices, receives their events over gRPC, stores them in DuckDB,
publishes a lake for analysts.

Data flow, one module per stage: identity (which enrolled device or operator calls, from its
credential) -> validate (is it well-formed) -> admission (may it be taken now: device rate, free
disk) -> ingest (queue, group commit, ack after commit) with ledger (dedupe and seq gaps), encode
(events as an Arrow table) and store (the one DuckDB writer) -> session_table (sessions and
device health folded from events) -> lake (the DuckLake published at an interval by
publish_loop, kept tidy by lake_upkeep) -> report_runner (reports over the lake, for operators).
Around it: credentials (the secrets and their format), enrollment (tokens, devices, operators,
revocation as rows), tls (the collector's CA and certificate); the policy data: org_csv,
org_history and org_import (roster CSV exports with history), import_folder (the watched
folder), restrictions and weekly_schedule (§4.4), org_policies, catalog_apps, audit; service
and admin_service (the gRPC faces), health (gRPC health), metrics (Prometheus), log_format,
config (settings from file, environment and flags), server (wiring; server_group: several
accept loops on one port), event_loop (uvloop for the RPC process), rpc_heap (its garbage
collector), background_priority (background threads that yield the CPU) and cli
(`commaudit-collector`).
"""
