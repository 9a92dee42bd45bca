"""Every query of the billing service lives in this package."""
