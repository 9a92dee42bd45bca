from einvoice.main import MIGRATIONS_DIR, create_app
from einvoice.settings import EinvoiceSettings
from servicekit.cli import main_for

main_for(EinvoiceSettings, create_app, MIGRATIONS_DIR)
