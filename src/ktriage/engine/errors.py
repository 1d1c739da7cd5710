"""The exceptions ktriage raises: one root, subclasses that carry what explains them."""

from __future__ import annotations

from dataclasses import dataclass

# At most this many problems are kept, translated and shown for one input; the count of
# all of them is kept beside (a hostile body can hold a million mistakes).
MAX_ERRORS = 20


class KtriageError(Exception):
    """Root of every error ktriage raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of the input.

    ``field`` is a dotted path into the input (``symptoms.0.severity``); ``message`` says
    what is wrong in words a person at a desk can act on.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidReport(KtriageError):
    """A report (or JSON text) that cannot be triaged as given.

    ``errors`` lists the problems found, not just the first, up to ``MAX_ERRORS``;
    ``error_count`` counts all of them. ``input`` keeps what the caller gave, untouched,
    so nothing they typed is lost.
    """

    def __init__(
        self, errors: list[FieldError], input: object = None, *, total: int | None = None
    ) -> None:
        errors = list(errors)
        self.error_count = max(total or 0, len(errors))
        self.errors = errors[:MAX_ERRORS]
        self.input = input
        super().__init__(self._describe())

    def _describe(self) -> str:
        if not self.errors:
            return "invalid report"
        first = str(self.errors[0])
        more = self.error_count - 1
        return first if more == 0 else f"{first} (and {more} more problem{'s' * (more > 1)})"


class RulePackError(KtriageError):
    """A rule pack that cannot be loaded. Raised at load time, never during evaluation.

    Carries where the problem is (``file``, ``line``, ``rule_id``) and, when a name was
    misspelt, the nearest valid one (``suggestion``).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        rule_id: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.rule_id = rule_id
        self.suggestion = suggestion
        # every problem found in the rule files, this one first (``rules validate`` lists
        # them all; the message is the first one's)
        self.problems: list[RulePackError] = [self]
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = self.file or "<rule pack>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: "
        if self.rule_id:
            text += f"rule {self.rule_id!r}: "
        text += self.message
        if self.suggestion:
            text += f" (did you mean {self.suggestion!r}?)"
        return text


class EngineFailure(KtriageError):
    """The rule runtime failed on a valid report. A bug, never the caller's fault."""
