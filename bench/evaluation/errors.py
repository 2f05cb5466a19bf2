"""The evaluation command's own error: bad input reported as one clear line."""


class EvaluationError(Exception):
    """Bad input to an evaluation (unreadable file, missing column, non-numeric target)."""
