from servicekit.cli import main_for

from billing.main import MIGRATIONS_DIR, create_app
from billing.settings import BillingSettings

main_for(BillingSettings, create_app, MIGRATIONS_DIR)  # type: ignore[arg-type]
