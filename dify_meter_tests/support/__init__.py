"""Helpers shared by several test folders; test modules import these, never each other."""
