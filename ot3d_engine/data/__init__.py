"""Small static data the engine ships (class-name vocabularies)."""
