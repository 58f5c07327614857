"""Page-speed benchmark of the console against Flask-Admin and a bare baseline (not a test)."""
