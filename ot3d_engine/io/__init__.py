"""Scan readers and file formats."""
