"""DejaVu Sans for venue boards (data only; licence in LICENSE-DejaVu.txt)."""
