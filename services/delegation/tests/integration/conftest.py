import os

# Integration tests run against the real PostgreSQL of deploy/local (one fresh database
# per test run); point TEST_POSTGRES_URL elsewhere to use another server.
os.environ.setdefault(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://portal:portal@127.0.0.1:5432/postgres"
)
