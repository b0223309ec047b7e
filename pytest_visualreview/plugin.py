"""pytest hooks only: options, ini keys, the marker, fixtures, session start and finish."""
