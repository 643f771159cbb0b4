"""The operators' side of AdminService: `commaudit enroll-token`, `device`, `import`, `org`,
`restriction`, `operator`, `audit`.

connection (which collector, which CA, which credential) -> rpc (one call, how a refusal is
shown) -> one module of typer commands per subject, each making one call and printing the answer.
"""
