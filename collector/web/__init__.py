"""The collector's web side: operator dashboard and JSON API (login required), public venue pages."""
