"""Data files shipped with fastconv (see README.md here)."""
