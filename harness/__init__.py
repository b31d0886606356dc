"""Runs zoo cases through isolated, staged steps and records one result per case."""
