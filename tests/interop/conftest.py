import os
import sys

# Reuse the contract suite's harness (starts the real binary; ACC_PG switches it to PostgreSQL).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "contract"))

from bouncer_harness import admin_token, fresh_server, server  # noqa: E402,F401  (pytest fixtures)
