"""Pure rules of the fleet: no FastAPI, SQLAlchemy or Kafka in here."""
