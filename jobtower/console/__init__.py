"""The web console: built from ``console/`` into ``dist/`` (shipped as package data) and served by ``routes``."""
