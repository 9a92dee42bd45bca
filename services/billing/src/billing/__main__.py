from billing.main import MIGRATIONS_DIR, create_app
from billing.settings import BillingSettings
from servicekit.cli import main_for

# create_app takes BillingSettings; main_for types its factory for any ServiceSettings.
main_for(BillingSettings, create_app, MIGRATIONS_DIR)  # type: ignore[arg-type]  # see above
