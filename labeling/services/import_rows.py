"""Validating prompt records: each parsed record becomes a `PromptRow` or the messages of
what is wrong with it, naming the line and the field."""

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from config.nul import NUL_PROBLEM, nul_path, without_nul
from labeling.models import Domain, Project

from .import_files import FIELDS, BadRecord

MAX_TEXT_CHARS = 100_000
# A ranking prompt's candidate replies (design.md contract 7).
MIN_CANDIDATES = 2
MAX_CANDIDATES = 6
MAX_MODEL_CHARS = 200


def text_key(text: str) -> str:
    """sha256 of the whitespace-folded text: what "the same prompt" means."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().encode()).hexdigest()


# Slots: an import holds a chunk of a thousand rows at a time (bounded memory).
@dataclass(slots=True)
class PromptRow:
    where: str
    text: str
    system: str
    draft: str
    messages: list
    domain: Domain | None
    metadata: dict
    source_id: str
    # A ranking prompt's candidates: [{"content", "model"}] in file order.
    candidates: Sequence[dict[str, str]] = ()

    @property
    def key(self) -> str:
        earlier = "\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
        return text_key(f"{earlier}\nuser: {self.text}" if earlier else self.text)


class RowValidator:
    """Turns one parsed record into a `PromptRow`, or into the messages of what is wrong."""

    def __init__(self, project: Project, default_domain: Domain | None = None) -> None:
        self.domains = {d.slug: d for d in Domain.objects.all()}
        self.project_domains = {d.slug for d in project.domains.all()}
        # The import form's domain: given to every row that names none.
        self.default_domain = default_domain
        self.ranking = project.is_ranking
        # With AI drafts on, a ranking prompt may come bare: the AI writes its candidates.
        self.generates_candidates = project.ai_drafts_enabled

    def __call__(self, where: str, record: Any) -> PromptRow | list[str]:
        if isinstance(record, BadRecord):
            return [record.message]
        if isinstance(record, str):
            record = {"prompt": record}
        if not isinstance(record, dict):
            kind = type(record).__name__.replace("dict", "object").replace("list", "array")
            return [f"{where}: expected a JSON object or a JSON string, got {kind}"]
        # First and alone: later messages quote values, and the history must store them.
        nul_at = nul_path(record)
        if nul_at is not None:
            return [f'{where}: field "{without_nul(nul_at)}": {NUL_PROBLEM}']
        errors: list[str] = []

        def bad(name: str, problem: str) -> None:
            errors.append(f'{where}: field "{name}": {problem}')

        for name in record:
            if name not in FIELDS:
                bad(name, f"unknown field; use {', '.join(FIELDS)}")
        strings = {}
        for name in ("prompt", "system", "draft", "domain"):
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                bad(name, f"must be text, got {type(value).__name__}")
                value = None
            if value is not None and len(value) > MAX_TEXT_CHARS:
                bad(name, f"longer than {MAX_TEXT_CHARS:,} characters")
            strings[name] = value or ""

        text, system = strings["prompt"], strings["system"]
        earlier: list = []
        if "messages" in record:
            if "prompt" in record:
                bad("messages", 'give either "prompt" or "messages", not both')
            else:
                text, system, earlier = self._messages(record["messages"], system, bad)
        elif not text.strip():
            bad("prompt", "required and not empty" if "prompt" in record else "missing")

        candidates: Sequence[dict[str, str]] = ()
        if self.ranking:
            if strings["draft"]:
                bad("draft", 'a ranking prompt has "candidates" instead of a draft')
            if "candidates" in record or not self.generates_candidates:
                candidates = self._candidates(record.get("candidates"), "candidates" in record, bad)
        elif "candidates" in record:
            bad("candidates", "only a ranking project's prompts have candidates")

        domain = self.default_domain
        if strings["domain"]:
            domain = self.domains.get(strings["domain"].strip())
            if domain is None:
                bad("domain", f'unknown domain "{strings["domain"]}"')
            elif self.project_domains and domain.slug not in self.project_domains:
                allowed = ", ".join(sorted(self.project_domains))
                bad("domain", f'"{domain.slug}" is not a domain of this project ({allowed})')

        metadata = record.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            bad("metadata", "must be a JSON object")
        source_id = record.get("id", "")
        if source_id is None:
            source_id = ""
        if isinstance(source_id, bool) or not isinstance(source_id, str | int):
            bad("id", "must be text or a number")
        elif len(str(source_id)) > 255:
            bad("id", "longer than 255 characters")
        if errors:
            return errors
        return PromptRow(
            where=where,
            text=text,
            system=system,
            draft=strings["draft"],
            messages=earlier,
            domain=domain,
            metadata=metadata,
            source_id=str(source_id),
            candidates=candidates,
        )

    @staticmethod
    def _candidates(value: Any, given: bool, bad: Callable) -> list[dict[str, str]]:
        """2-6 distinct, non-empty candidate replies `{"content", "model"?}`."""
        if not given:
            bad(
                "candidates",
                f"missing: a ranking prompt needs {MIN_CANDIDATES} to "
                f"{MAX_CANDIDATES} candidate replies (or turn AI drafts on to generate them)",
            )
            return []
        if not isinstance(value, list):
            bad("candidates", 'must be an array of {"content", "model"?}')
            return []
        if not MIN_CANDIDATES <= len(value) <= MAX_CANDIDATES:
            bad(
                "candidates",
                f"{len(value)} given; a ranking prompt needs {MIN_CANDIDATES} to {MAX_CANDIDATES}",
            )
            return []
        cleaned: list[dict[str, str]] = []
        first_seen: dict[str, int] = {}
        for index, item in enumerate(value):
            where = f"candidates[{index}]"
            if isinstance(item, str):
                item = {"content": item}
            if not isinstance(item, dict):
                bad(where, 'must be an object {"content", "model"?}')
                continue
            unknown = sorted(set(item) - {"content", "model"})
            if unknown:
                bad(where, f"unknown field {', '.join(unknown)}; use content, model")
            content, model = item.get("content"), item.get("model") or ""
            if not isinstance(content, str) or not content.strip():
                bad(f"{where}.content", "required and not empty")
                continue
            if len(content) > MAX_TEXT_CHARS:
                bad(f"{where}.content", f"longer than {MAX_TEXT_CHARS:,} characters")
            if not isinstance(model, str) or len(model) > MAX_MODEL_CHARS:
                bad(f"{where}.model", f"must be text of at most {MAX_MODEL_CHARS} characters")
                model = ""
            key = text_key(content)
            if key in first_seen:
                bad(f"{where}.content", f"the same reply as candidates[{first_seen[key]}]")
            first_seen.setdefault(key, index)
            cleaned.append({"content": content, "model": model})
        return cleaned

    @staticmethod
    def _messages(messages: Any, system: str, bad: Callable) -> tuple[str, str, list]:
        if not isinstance(messages, list) or not messages:
            bad("messages", "must be a non-empty array of {role, content}")
            return "", system, []
        turns = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                bad("messages", f"message {index + 1}: needs a role and a text content")
                return "", system, []
            turns.append((message.get("role"), message["content"]))
        if turns[0][0] == "system":
            if system:
                bad("messages", 'a system message in "messages" and in "system": keep one')
            system = turns.pop(0)[1]
        for index, (role, _) in enumerate(turns):
            expected = "user" if index % 2 == 0 else "assistant"
            if role != expected:
                position = index + 1 + (len(messages) - len(turns))
                bad("messages", f'message {position}: role "{role}", expected "{expected}"')
                return "", system, []
        if not turns or turns[-1][0] != "user":
            bad("messages", "must end with a user message (the prompt to answer)")
            return "", system, []
        text = turns[-1][1]
        if not text.strip():
            bad("messages", "the last user message is empty")
        earlier = [{"role": role, "content": content} for role, content in turns[:-1]]
        return text, system, earlier
