import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation, Message, Revision
from conversations.services import ConversationImportError, conversations_import
from labeling.models import Project
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "oasst_small.jsonl"


def lines(*records) -> io.BytesIO:
    text = "\n".join(
        r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records
    )
    return io.BytesIO(text.encode("utf-8"))


def messages_of(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in conversation.current_revision.messages]


def test_oasst_import_takes_the_best_ranked_path_of_each_tree():
    project = ProjectFactory(slug="oasst")
    with FIXTURE.open("rb") as stream:
        result = conversations_import(
            project=project, stream=stream, file_name="oasst_small.jsonl", file_format="oasst"
        )

    assert result.imported == 2
    assert result.skipped_without_reply == 1
    first, second = Conversation.objects.filter(project=project).order_by("id")
    assert first.source_id == "t1" and first.imported and first.state == "submitted"
    assert messages_of(first) == [
        ("user", "How do I reverse a list in Python?"),
        ("assistant", "Call xs.reverse() to reverse in place."),
    ]
    assert first.current_revision.kind == Revision.Kind.IMPORT
    assert messages_of(second)[1][1].startswith("Vagues sans repos")
    assert second.current_revision.messages[1]["origin"] == "model"  # synthetic: an AI draft
    assert Message.objects.filter(conversation=second).count() == 2
    assert second.metadata["message_tree_id"] == "t2"


def test_oasst_import_with_all_paths_keeps_every_root_to_leaf_path_but_deleted_ones():
    project = ProjectFactory(slug="oasst-all")
    with FIXTURE.open("rb") as stream:
        conversations_import(
            project=project, stream=stream, file_name="f", file_format="oasst", all_paths=True
        )

    paths = {c.source_id: messages_of(c) for c in Conversation.objects.filter(project=project)}
    assert set(paths) == {"t1/a12", "t1/a11", "t1/a2", "t2/b1", "t2/b2"}
    assert [role for role, _ in paths["t1/a12"]] == ["user", "assistant", "user", "assistant"]
    assert all("removed" not in text for p in paths.values() for _, text in p)


def test_messages_jsonl_round_trips_the_export_shape_with_a_bom_and_approved_state():
    project = ProjectFactory(slug="msgs")
    record = {
        "id": "ext-1",
        "messages": [
            {"role": "system", "content": "Be exact."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ],
        "metadata": {"domain": "math"},
    }
    stream = io.BytesIO(b"\xef\xbb\xbf" + json.dumps(record).encode() + b"\n\n")

    result = conversations_import(
        project=project, stream=stream, file_name="x.jsonl", state="approved"
    )

    assert result.imported == 1
    conversation = Conversation.objects.get(project=project)
    assert conversation.state == "approved" and conversation.decided_at is not None
    assert conversation.source_id == "ext-1"
    assert messages_of(conversation) == [(m["role"], m["content"]) for m in record["messages"]]

    again = conversations_import(
        project=project, stream=io.BytesIO(json.dumps(record).encode()), file_name="x.jsonl"
    )
    assert again.imported == 0 and again.skipped_existing == 1


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        (json.dumps({"id": 1}), 'line 2: field "messages": missing'),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                        {"role": "bot", "content": "c"},
                    ]
                }
            ),
            'line 2: field "messages[2].role": unknown role "bot"',
        ),
        (
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "  "},
                    ]
                }
            ),
            'line 2: field "messages[1].content": empty content',
        ),
    ],
)
def test_any_bad_line_is_named_and_nothing_is_imported(bad_line, message):
    project = ProjectFactory(slug="bad")
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}

    with pytest.raises(ConversationImportError) as error:
        conversations_import(project=project, stream=lines(good, bad_line, good), file_name="f")

    assert str(error.value).startswith(message)
    assert not Conversation.objects.exists()


def test_command_imports_oasst_into_a_new_project(capsys):
    out = io.StringIO()
    call_command(
        "import_conversations",
        str(FIXTURE),
        "--project",
        "open-assistant",
        "--create-project",
        "--format",
        "oasst",
        "--state",
        "approved",
        stdout=out,
    )
    assert "Imported 2 conversations into open-assistant as approved" in out.getvalue()
    project = Project.objects.get(slug="open-assistant")
    assert project.conversations.filter(state="approved", imported=True).count() == 2


def test_command_reports_bad_lines_and_keeps_no_project(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}\n'
    )
    with pytest.raises(
        CommandError, match='line 1: field "messages\\[1\\].role": unknown role "bot"'
    ):
        call_command("import_conversations", str(path), "--project", "new-one", "--create-project")
    assert not Project.objects.filter(slug="new-one").exists()


def test_a_file_that_is_not_utf8_names_the_line_and_imports_nothing(db):
    project = ProjectFactory()
    good = b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n'
    latin1 = '{"messages": [{"role": "user", "content": "Caf\xe9"}]}\n'.encode("latin-1")
    with pytest.raises(ConversationImportError) as raised:
        conversations_import(project=project, stream=io.BytesIO(good + latin1), file_name="f")
    assert raised.value.errors[0].startswith("line 2: not UTF-8 text")
    assert not Conversation.objects.filter(project=project).exists()
