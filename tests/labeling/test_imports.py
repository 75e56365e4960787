import json
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from conversations.services import next_task
from labeling.models import ImportBatch, Project, ProjectStatus, Prompt, User
from labeling.services import ImportSource, domain_get_or_create, prompts_import, prompts_preview
from tests.factories import ProjectFactory, PromptFactory

pytestmark = pytest.mark.django_db


def _write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return ImportSource(name=name, path=path)


def _jsonl(*rows):
    return "".join(
        (row if isinstance(row, str) and row.startswith("{") else json.dumps(row)) + "\n"
        for row in rows
    )


def test_jsonl_objects_and_bare_strings_import_with_their_fields(tmp_path):
    domain_get_or_create(name="python")
    project = ProjectFactory()
    source = _write(
        tmp_path,
        "prompts.jsonl",
        _jsonl(
            "Can you tell me about GLaDOS?",
            {
                "prompt": "What is a decorator?",
                "system": "Be brief.",
                "domain": "python",
                "draft": "A decorator wraps a function.",
                "metadata": {"source": "forum"},
                "id": 42,
            },
            {
                "messages": [
                    {"role": "system", "content": "You are a tutor."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Explain recursion."},
                ]
            },
        ),
    )
    report = prompts_import(project=project, source=source, user=None)
    assert report.status == "imported", report.all_messages()
    assert report.rows_imported == 3
    glados, decorator, recursion = Prompt.objects.filter(project=project).order_by("id")
    assert glados.text == "Can you tell me about GLaDOS?"
    assert (decorator.system, decorator.domain.slug, decorator.source_id) == (
        "Be brief.",
        "python",
        "42",
    )
    assert decorator.draft == "A decorator wraps a function."
    assert decorator.metadata == {"source": "forum"}
    assert recursion.text == "Explain recursion."
    assert recursion.system == "You are a tutor."
    assert recursion.messages == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert (batch.status, batch.rows_read, batch.rows_imported) == ("imported", 3, 3)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"prompt": "x", "domain": "chemistry"}',
            'line 2: field "domain": unknown domain "chemistry"',
        ),
        ('{"prompt": "x", ', "line 2: not valid JSON"),
        ('{"system": "only a system"}', 'line 2: field "prompt": missing'),
        ('{"prompt": "   "}', 'line 2: field "prompt": required and not empty'),
        ('{"prompt": 12}', 'line 2: field "prompt": must be text, got int'),
        ('{"prompt": "x", "metadata": [1]}', 'line 2: field "metadata": must be a JSON object'),
        ('{"prompt": "x", "colour": "red"}', 'line 2: field "colour": unknown field'),
        ("[1, 2]", "line 2: expected a JSON object or a JSON string, got array"),
        (
            '{"messages": [{"role": "assistant", "content": "hi"}]}',
            'line 2: field "messages": message 1: role "assistant", expected "user"',
        ),
        (
            '{"prompt": "x", "messages": [{"role": "user", "content": "y"}]}',
            'line 2: field "messages": give either',
        ),
    ],
)
def test_each_bad_line_names_its_line_and_field_and_imports_nothing(tmp_path, line, expected):
    project = ProjectFactory()
    source = _write(
        tmp_path, "bad.jsonl", _jsonl({"prompt": "fine"}) + line + "\n" + _jsonl("also fine")
    )
    report = prompts_import(project=project, source=source, user=None)
    assert report.status == "failed"
    assert any(message.startswith(expected) for message in report.errors), report.errors
    assert not Prompt.objects.filter(project=project).exists()
    batch = ImportBatch.objects.get(pk=report.batch_id)
    assert batch.status == ImportBatch.Status.FAILED
    assert any(message.startswith(expected) for message in batch.errors)


def test_domain_outside_the_project_is_an_error(tmp_path):
    domain_get_or_create(name="law")
    project = ProjectFactory(domains=["python"])
    report = prompts_preview(
        project=project,
        source=_write(tmp_path, "p.jsonl", _jsonl({"prompt": "x", "domain": "law"})),
    )
    assert report.errors == [
        'line 1: field "domain": "law" is not a domain of this project (python)'
    ]


def test_csv_with_header_and_quoted_multiline_cells(tmp_path):
    project = ProjectFactory()
    csv_text = 'prompt,id,metadata\n"Two\nlines",a1,"{""k"": 1}"\nSecond,a2,\n'
    report = prompts_import(project=project, source=_write(tmp_path, "p.csv", csv_text), user=None)
    assert report.status == "imported", report.all_messages()
    first, second = Prompt.objects.order_by("id")
    assert (first.text, first.source_id, first.metadata) == ("Two\nlines", "a1", {"k": 1})
    assert second.text == "Second"


def test_csv_errors_name_the_physical_line(tmp_path):
    project = ProjectFactory()
    csv_text = 'prompt,metadata\n"multi\nline",\nok,{bad json\n'
    report = prompts_preview(project=project, source=_write(tmp_path, "p.csv", csv_text))
    assert report.errors[0].startswith('line 4: column "metadata": not valid JSON')


def test_csv_without_prompt_column_is_refused(tmp_path):
    report = prompts_preview(
        project=ProjectFactory(), source=_write(tmp_path, "p.csv", "question\nwhy?\n")
    )
    assert report.errors == ['line 1: the CSV header needs a "prompt" column (found "question")']


def test_utf8_bom_is_fine(tmp_path):
    project = ProjectFactory()
    source = _write(tmp_path, "bom.csv", b"\xef\xbb\xbfprompt\nCaf\xc3\xa9?\n")
    report = prompts_import(project=project, source=source, user=None)
    assert report.status == "imported", report.all_messages()
    assert Prompt.objects.get().text == "Café?"


def test_other_encodings_are_a_clear_error_with_the_line(tmp_path):
    project = ProjectFactory()
    latin1 = "prompt\nfine\nCafé?\n".encode("latin-1")
    report = prompts_import(project=project, source=_write(tmp_path, "l.csv", latin1), user=None)
    assert report.status == "failed"
    assert report.errors == [
        "line 3: not UTF-8 text (byte 0xe9 at column 4); save the file as UTF-8 and upload it again"
    ]
    utf16 = _write(tmp_path, "u.jsonl", '"hello"\n'.encode("utf-16"))
    assert "UTF-16" in prompts_preview(project=project, source=utf16).errors[0]


def test_duplicates_in_file_and_project_are_reported_and_skipped(tmp_path):
    project = ProjectFactory()
    PromptFactory(project=project, text="Already  here")
    source = _write(tmp_path, "d.jsonl", _jsonl("New one", " Already here", "New\tone", "Another"))
    report = prompts_import(project=project, source=source, user=None)
    assert report.status == "imported"
    assert report.duplicates == [
        "line 2: the project already has this prompt",
        "line 3: same prompt as line 1",
    ]
    assert report.rows_imported == 2
    assert ImportBatch.objects.get(pk=report.batch_id).duplicates_skipped == 2
    assert project.prompts.count() == 3


def test_duplicates_fail_the_import_when_asked(tmp_path):
    project = ProjectFactory()
    source = _write(tmp_path, "d.jsonl", _jsonl("Same", "Same "))
    report = prompts_import(project=project, source=source, user=None, on_duplicate="fail")
    assert report.status == "failed"
    assert "line 2: same prompt as line 1" in ImportBatch.objects.get(pk=report.batch_id).errors
    assert not project.prompts.exists()


def test_a_large_file_imports_in_bounded_memory(tmp_path):
    project = ProjectFactory()
    path = tmp_path / "large.jsonl"
    filler = "lorem ipsum dolor sit amet " * 40
    with path.open("w", encoding="utf-8") as handle:
        for number in range(20_000):
            handle.write(
                json.dumps({"prompt": f"Question {number}: {filler}", "id": number}) + "\n"
            )
    size = path.stat().st_size
    assert size > 20_000_000

    tracemalloc.start()
    report = prompts_import(
        project=project, source=ImportSource(name="large.jsonl", path=path), user=None
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert report.status == "imported", report.all_messages()
    assert project.prompts.count() == 20_000
    assert peak < size / 4, f"peak {peak:,} bytes for a {size:,}-byte file"


def test_cli_imports_and_creates_an_open_active_project(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text(_jsonl("One?", "Two?"), encoding="utf-8")
    call_command("import_prompts", str(path), "--project", "fresh-start", "--create-project")
    project = Project.objects.get(slug="fresh-start")
    assert project.status == ProjectStatus.ACTIVE
    assert not project.domains.exists()
    assert project.prompts.count() == 2
    assert "Imported 2 prompts" in capsys.readouterr().out


def test_cli_reports_errors_and_fails(tmp_path, capsys):
    project = ProjectFactory(slug="strict")
    path = tmp_path / "p.jsonl"
    path.write_text(_jsonl("ok", {"prompt": "x", "domain": "chemistry"}), encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_prompts", str(path), "--project", "strict")
    assert 'line 2: field "domain": unknown domain "chemistry"' in capsys.readouterr().err
    assert not project.prompts.exists()
    with pytest.raises(CommandError, match="no project"):
        call_command("import_prompts", str(path), "--project", "missing")


def test_seed_demo_goes_through_the_services_and_is_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")
    project = Project.objects.get(slug="expert-answers")
    assert project.status == ProjectStatus.ACTIVE
    assert project.prompts.count() == 30
    assert project.guideline_versions.get().version == 1
    assert project.import_batches.get().rows_imported == 30


def test_seed_demo_has_a_tool_use_project_with_python_and_search():
    call_command("seed_demo")
    project = Project.objects.get(slug="tool-use")
    names = [spec["function"]["name"] for spec in project.tools]
    assert names == ["python", "search"]
    search = project.tools[1]["function"]["parameters"]
    assert search["required"] == ["query"] and search["properties"]["top_k"]["type"] == "integer"
    assert project.reasoning_mode == "optional"
    assert project.prompts.count() == 6 and project.guideline_versions.exists()


def test_seed_demo_has_a_ranking_project_whose_prompts_are_tasks():
    call_command("seed_demo")
    project = Project.objects.get(slug="rank-replies")
    assert project.is_ranking and project.prompts.count() == 4
    for prompt in project.prompts.all():
        assert prompt.candidates.count() == 3
    ana = User.objects.get(username="ana")
    task = next_task(ana, project)
    assert task.conversation_id is not None
