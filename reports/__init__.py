"""Turns harness result records into the support matrix and operator table."""
