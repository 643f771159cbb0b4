"""The operators' side of AdminService: `commaudit enroll-token ...` and `commaudit device ...`.

connection (which collector, which CA, which credential) -> commands (typer commands that make
one call each and print the answer).
"""
