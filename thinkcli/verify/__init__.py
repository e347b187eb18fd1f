"""Verifiers: score a candidate answer. Command (sandboxed), judge model, self-certainty."""
