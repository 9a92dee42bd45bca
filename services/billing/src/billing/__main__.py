from billing.main import MIGRATIONS_DIR, create_app
from billing.settings import BillingSettings
from servicekit.cli import main_for

main_for(BillingSettings, create_app, MIGRATIONS_DIR)
