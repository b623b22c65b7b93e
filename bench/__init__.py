"""entryscan benchmark suite: ``python -m bench [--quick] [NAME ...]``; one JSON object per line."""
