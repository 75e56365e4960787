"""Quality checks over a conversation: pure functions of its messages and the project's rules.

The editor runs them live while a person writes (on the unsaved text) and
`conversation_submit` runs them again: a blocking result refuses the submit, a
warning is shown and left to the person's judgement. Each result names the message
it concerns, so the page can show it beside that message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from labeling.models import Project
from structured_turns.rules import conversation_problems, is_empty_turn

BLOCKING = "blocking"
WARNING = "warning"

# How close to the limit a conversation must be before the editor warns.
NEAR_LIMIT_SHARE = 0.9


@dataclass(frozen=True)
class ConversationRules:
    """The project's conversation rules, detached from the ORM so checks stay pure."""

    min_turns: int = 1
    max_turns: int = 10
    max_tokens: int = 4096
    system_message_allowed: bool = False
    fixed_system_message: str = ""
    # Declared tools (already valid: the project service checks them) and reasoning mode.
    tools: tuple = ()
    reasoning_mode: str = "off"

    @classmethod
    def for_project(cls, project: Project) -> ConversationRules:
        return cls(
            min_turns=project.min_turns,
            max_turns=project.max_turns,
            max_tokens=project.max_tokens,
            system_message_allowed=project.system_message_allowed,
            fixed_system_message=project.fixed_system_message,
            tools=tuple(project.tools or ()),
            reasoning_mode=project.reasoning_mode,
        )


@dataclass(frozen=True)
class CheckResult:
    code: str
    severity: str
    message: str
    # Index of the message concerned in the list checked; None for the whole conversation.
    position: int | None = None
    # Structured turns: which part of the message ("content", "reasoning", "tool_call",
    # "result"), the call id concerned and the JSON path, for the editor to mark the spot.
    part: str | None = None
    call_id: str = ""
    path: str = ""

    @property
    def blocking(self) -> bool:
        return self.severity == BLOCKING

    def as_dict(self) -> dict:
        return asdict(self)


def _where(position: int, message: Mapping) -> str:
    return f"Message {position + 1} ({message.get('role', '?')})"


# --- blocking ---------------------------------------------------------------------------


def check_empty_messages(messages: Sequence[Mapping]) -> list[CheckResult]:
    return [
        CheckResult(
            "empty_message",
            BLOCKING,
            f"{_where(position, message)} is empty: write it or remove the turn.",
            position,
        )
        for position, message in enumerate(messages)
        if is_empty_turn(message)
    ]


def check_roles(messages: Sequence[Mapping], rules: ConversationRules) -> list[CheckResult]:
    """System first (if any, and only where allowed), then user/assistant alternating, ending on assistant.

    Tool results are placed by the structured rules (`check_structured`): an assistant that
    called tools is followed by their results and then another assistant message.
    """
    results = []
    expected = "user"
    for position, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            continue
        if role == "system":
            if position != 0:
                results.append(
                    CheckResult(
                        "system_position",
                        BLOCKING,
                        f"{_where(position, message)}: a system message can only come first.",
                        position,
                    )
                )
            elif not (rules.system_message_allowed or rules.fixed_system_message):
                results.append(
                    CheckResult(
                        "system_not_allowed",
                        BLOCKING,
                        f"{_where(position, message)}: this project does not allow a system message.",
                        position,
                    )
                )
            continue
        if role != expected:
            results.append(
                CheckResult(
                    "roles_alternate",
                    BLOCKING,
                    f"{_where(position, message)} should be a {expected} message: "
                    "user and assistant turns must alternate, starting with the user.",
                    position,
                )
            )
            # Re-synchronise on what is there, so one slip is reported once.
        calls_tools = role == "assistant" and bool(message.get("tool_calls"))
        expected = "assistant" if role == "user" or calls_tools else "user"
    conversational = [m for m in messages if m.get("role") != "system"]
    if not conversational or conversational[-1].get("role") != "assistant":
        last = len(messages) - 1
        results.append(
            CheckResult(
                "ends_on_assistant",
                BLOCKING,
                "The conversation must end on an assistant reply.",
                last if last >= 0 else None,
            )
        )
    return results


def turn_count(messages: Sequence[Mapping]) -> int:
    """A turn is one user message (with the assistant reply to it)."""
    return sum(1 for m in messages if m.get("role") == "user")


def check_turns(messages: Sequence[Mapping], rules: ConversationRules) -> list[CheckResult]:
    turns = turn_count(messages)
    if turns < rules.min_turns:
        return [
            CheckResult(
                "too_few_turns",
                BLOCKING,
                f"{turns} turn{'s' if turns != 1 else ''}; this project needs at least {rules.min_turns}.",
            )
        ]
    if turns > rules.max_turns:
        return [
            CheckResult(
                "too_many_turns",
                BLOCKING,
                f"{turns} turns; this project allows at most {rules.max_turns}.",
            )
        ]
    return []


def check_token_limit(total_tokens: int | None, rules: ConversationRules) -> list[CheckResult]:
    if total_tokens is None:
        return []
    if total_tokens > rules.max_tokens:
        return [
            CheckResult(
                "over_token_limit",
                BLOCKING,
                f"{total_tokens} tokens: over this project's limit of {rules.max_tokens}.",
            )
        ]
    if total_tokens >= NEAR_LIMIT_SHARE * rules.max_tokens:
        return [
            CheckResult(
                "near_token_limit",
                WARNING,
                f"{total_tokens} tokens: close to this project's limit of {rules.max_tokens}.",
            )
        ]
    return []


def check_structured(messages: Sequence[Mapping], rules: ConversationRules) -> list[CheckResult]:
    """Contract 6 (tool calls, tool results, reasoning): the same rules as save and import."""
    results = []
    for problem in conversation_problems(
        messages, tools=rules.tools, reasoning_mode=rules.reasoning_mode
    ):
        message = messages[problem.position]
        where = (
            f" (at {problem.path})" if problem.code in ("invalid_arguments", "malformed") else ""
        )
        results.append(
            CheckResult(
                problem.code,
                BLOCKING,
                f"{_where(problem.position, message)}: {problem.detail}{where}.",
                problem.position,
                part=problem.part,
                call_id=problem.call_id,
                path=problem.path,
            )
        )
    return results


# --- warnings ---------------------------------------------------------------------------

_SPECIAL_TOKEN = re.compile(r"<\|[^|<>\n]{0,40}\|>")

_PERSONAL_DATA = [
    ("an email address", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")),
    (
        "a phone number",
        re.compile(
            r"(?<![\w.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?)?\d{2,4}(?:[\s.-]\d{2,4}){2,3}(?![\w.])"
        ),
    ),
    ("an API key (sk-…)", re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}")),
    ("an AWS access key (AKIA…)", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token (ghp_…)", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("a Slack token (xox…)", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key (AIza…)", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
]


def _looks_like_phone(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    return 9 <= digits <= 15


def _texts(message: Mapping) -> list[tuple[str, str, str]]:
    """(part, label, text) of each free text a message holds: its content (a tool's result)
    and an assistant's reasoning."""
    role = message.get("role")
    texts = [("result" if role == "tool" else "content", "", message.get("content") or "")]
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        texts.append(("reasoning", "'s reasoning", reasoning))
    return [t for t in texts if isinstance(t[2], str)]


def check_special_tokens(messages: Sequence[Mapping]) -> list[CheckResult]:
    results = []
    for position, message in enumerate(messages):
        for part, label, text in _texts(message):
            found = _SPECIAL_TOKEN.search(text)
            if found:
                results.append(
                    CheckResult(
                        "special_token_lookalike",
                        WARNING,
                        f"{_where(position, message)}{label} contains {found.group(0)}, which "
                        "looks like a special token (it will be exported as plain text).",
                        position,
                        part=part,
                    )
                )
    return results


def check_personal_data(messages: Sequence[Mapping]) -> list[CheckResult]:
    results = []
    for position, message in enumerate(messages):
        for part, label, text in _texts(message):
            results += _personal_data(position, message, part, label, text)
    return results


def _personal_data(
    position: int, message: Mapping, part: str, label: str, content: str
) -> list[CheckResult]:
    kinds = []
    for kind, pattern in _PERSONAL_DATA:
        matches = [m.group(0) for m in pattern.finditer(content)]
        if kind == "a phone number":
            matches = [m for m in matches if _looks_like_phone(m)]
        if matches:
            kinds.append(kind)
    if not kinds:
        return []
    return [
        CheckResult(
            "personal_data",
            WARNING,
            f"{_where(position, message)}{label} may contain personal data or a secret: "
            f"{', '.join(kinds)}. Replace it with a placeholder unless it is meant to be there.",
            position,
            part=part,
        )
    ]


def check_unedited_drafts(messages: Sequence[Mapping]) -> list[CheckResult]:
    return [
        CheckResult(
            "unedited_ai_draft",
            WARNING,
            f"{_where(position, message)} is the AI draft without any edit: "
            "check it carefully before submitting it as the ideal reply.",
            position,
        )
        for position, message in enumerate(messages)
        if message.get("role") == "assistant"
        and message.get("origin") == "model"
        and not is_empty_turn(message)
        and message.get("content") == message.get("model_original")
        and (message.get("reasoning") or "") == (message.get("model_original_reasoning") or "")
        and (message.get("tool_calls") or []) == (message.get("model_original_tool_calls") or [])
    ]


_MATH_PROMPT = re.compile(
    r"\b(calculate|compute|solve|prove|how many|how much|equation|probability|integral|"
    r"derivative|sum of|product of|percent(?:age)?|puzzle|riddle|logic|deduce|"
    r"what is the (?:value|result|answer))\b|\d\s*[-+*/×÷^=]\s*\d",
    re.IGNORECASE,
)
# A reply that opens with its result: "42.", "**42**", "The answer is 42", "Answer: yes", "= 7".
_ANSWER_FIRST = re.compile(
    r"^\s*(?:\*\*|__)?\s*(?:"
    r"(?:the\s+)?(?:final\s+)?(?:answer|result)\s*(?:is|:|=)"
    r"|=\s*[-\d]"
    r"|[-+]?\d[\d,]*(?:\.\d+)?\s*(?:\*\*|__)?\s*(?:[.!]|$)"
    r"|(?:yes|no)\s*[.!,]"
    r")",
    re.IGNORECASE,
)


def is_math_or_logic_prompt(prompt_text: str) -> bool:
    return bool(_MATH_PROMPT.search(prompt_text or ""))


def check_answer_before_working(messages: Sequence[Mapping]) -> list[CheckResult]:
    """On a math or logic question, an assistant reply should work before it concludes.

    A model produces its answer token by token: an answer stated first is a guess
    the working then has to justify ("models need tokens to think").
    """
    results = []
    last_user = ""
    for position, message in enumerate(messages):
        role, content = message.get("role"), message.get("content") or ""
        if role == "user":
            last_user = content
            continue
        if role != "assistant" or not is_math_or_logic_prompt(last_user):
            continue
        first_line = content.strip().split("\n", 1)[0]
        if first_line and _ANSWER_FIRST.match(first_line):
            results.append(
                CheckResult(
                    "answer_before_working",
                    WARNING,
                    f"{_where(position, message)} states its final answer before any working; "
                    "on math and logic questions reason step by step first, then conclude.",
                    position,
                )
            )
    return results


# --- all together -----------------------------------------------------------------------


def run_checks(
    messages: Sequence[Mapping],
    rules: ConversationRules,
    *,
    total_tokens: int | None = None,
) -> list[CheckResult]:
    """Every check, blocking results first, then in message order."""
    results = [
        *check_empty_messages(messages),
        *check_roles(messages, rules),
        *check_structured(messages, rules),
        *check_turns(messages, rules),
        *check_token_limit(total_tokens, rules),
        *check_special_tokens(messages),
        *check_personal_data(messages),
        *check_unedited_drafts(messages),
        *check_answer_before_working(messages),
    ]
    return sorted(
        results,
        key=lambda r: (r.severity != BLOCKING, -1 if r.position is None else r.position),
    )


def blocking_results(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.blocking]
