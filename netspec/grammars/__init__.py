"""The grammar files, shipped as package data."""
