"""Pure billing rules: rating, exclusions, periods, working days, invoice totals."""
