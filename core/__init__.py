"""Small pure libraries every app may use (no models, no app imports)."""
