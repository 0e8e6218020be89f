"""Golden tests of the Qblox compiler: see corpus.py and regenerate.py."""
