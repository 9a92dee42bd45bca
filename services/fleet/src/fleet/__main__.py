from fleet.main import MIGRATIONS_DIR, create_app
from fleet.settings import FleetSettings
from servicekit.cli import main_for

# main_for passes the settings it built with FleetSettings(), so create_app's narrower
# parameter is safe; main_for's signature is not generic in the settings class.
main_for(FleetSettings, create_app, MIGRATIONS_DIR)
