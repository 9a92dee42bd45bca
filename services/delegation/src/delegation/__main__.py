from delegation.main import MIGRATIONS_DIR, create_app
from delegation.settings import DelegationSettings
from servicekit.cli import main_for

main_for(DelegationSettings, create_app, MIGRATIONS_DIR)
