"""Coachpass: books, follows up and reports monthly sales coaching sessions."""

__version__ = "0.1.0"
