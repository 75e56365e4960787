"""Benchmark: the whole export on PostgreSQL against raw tiktoken, and its memory as data grows.

Seeds approved conversations (shaped like ../shared/data's OpenAssistant trees when present,
their texts cycled and numbered so none is an exact duplicate; generated text otherwise)
into two projects of 10,000 and 100,000 conversations. Then, each in a fresh subprocess so
the RSS high-water mark belongs to that run alone:

* the export (`export_run`, the service the Celery job and the CLI call: stream, filter,
  tokenize, split, write JSONL + Parquet, dataset card, manifest, atomic publish), timed
  end to end, with its peak RSS from resource.getrusage;
* the baseline: tiktoken's `encode_ordinary_batch` on exactly the same message texts,
  1,000 conversations per call, timing only the encode calls (texts loaded beforehand).

Prints conversations/s and tokens/s of both, the ratio (target ≥ 0.5) and the peak RSS at
each size (target: 100k within 1.5× of 10k).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_bench_export \\
        .venv/bin/python bench/export.py [--sizes 10000,100000]

`--preference` runs the preference benchmark instead (see `preference_main`): the same
seeding where a third of the conversations began as AI drafts that people rewrote, then
pairs/s of the `preference` export beside conversations/s of the SFT export of the same
data (target ≥ 0.8×).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "oasst1_en_100_trees.jsonl"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sft_bench_export"
DOMAINS = ["python", "biology", "law", "math"]
sys.path.insert(0, str(ROOT))

from bench.common import create_database  # noqa: E402


def _environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "1",
        "LOG_LEVEL": "WARNING",
    }


def _setup(database_url: str) -> None:
    os.environ.update(_environment(database_url))
    import django

    django.setup()


def _conversation_shapes() -> list[list[tuple[str, str]]]:
    """(role, text) paths: every root-to-leaf path of the OpenAssistant trees, else generated."""
    if not DATA.exists():
        words = [
            "the",
            "model",
            "learns",
            "from",
            "careful",
            "answers",
            "written",
            "by",
            "domain",
            "experts",
        ]
        return [
            [
                ("user", " ".join(words[(i + j) % len(words)] for j in range(12)) + "?"),
                ("assistant", " ".join(words[(i * 3 + j) % len(words)] for j in range(120))),
            ]
            for i in range(50)
        ]
    shapes = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        stack: list[tuple[dict, list[tuple[str, str]]]] = [(json.loads(line)["prompt"], [])]
        while stack:
            node, prefix = stack.pop()
            role = "user" if node["role"] == "prompter" else "assistant"
            path = [*prefix, (role, node["text"])]
            replies = [r for r in node.get("replies", []) if not r.get("deleted")]
            if not replies and role == "assistant":
                shapes.append(path)
            stack.extend((reply, path) for reply in replies)
    return shapes


def _seed(slug: str, count: int, *, drafted_every: int = 0) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from conversations.models import Conversation, Review, Revision
    from labeling.models import Domain, Project, Prompt
    from labeling.services import member_save

    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug})
    have = Conversation.objects.filter(project=project, state="approved").count()
    if have == count:
        return
    Conversation.objects.filter(project=project).delete()
    Prompt.objects.filter(project=project).delete()
    reviewer, _ = member_save(
        username="bench-reviewer", roles=["reviewer"], labeler_domains=[], reviewer_domains=[]
    )
    domains = [Domain.objects.get_or_create(slug=d, defaults={"name": d})[0] for d in DOMAINS]
    prompts = Prompt.objects.bulk_create(
        Prompt(project=project, text=f"bench {d.slug}", text_key=d.slug, domain=d) for d in domains
    )
    shapes = cycle(_conversation_shapes())
    now = timezone.now()
    batch = 5000
    started = time.monotonic()
    for offset in range(0, count, batch):
        size = min(batch, count - offset)
        with transaction.atomic():
            conversations = Conversation.objects.bulk_create(
                Conversation(
                    project=project,
                    prompt=prompts[(offset + i) % len(prompts)],
                    state="approved",
                    submitted_at=now,
                    decided_at=now,
                )
                for i in range(size)
            )
            revisions = Revision.objects.bulk_create(
                Revision(
                    conversation=conversation,
                    number=1,
                    kind="submit",
                    messages=_messages(
                        next(shapes),
                        offset + i,
                        drafted=bool(drafted_every) and (offset + i) % drafted_every == 0,
                    ),
                )
                for i, conversation in enumerate(conversations)
            )
            Review.objects.bulk_create(
                Review(
                    conversation_id=revision.conversation_id,
                    revision=revision,
                    reviewer=reviewer,
                    decision="approve",
                    scores={"helpfulness": 4, "correctness": 5},
                )
                for revision in revisions
            )
        print(
            f"  seeded {offset + size:,}/{count:,} in {time.monotonic() - started:.0f}s", end="\r"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_conversation c SET current_revision_id = r.id "
            "FROM conversations_revision r WHERE r.conversation_id = c.id AND c.project_id = %s",
            [project.id],
        )
        cursor.execute("ANALYZE")
    print()


def _messages(shape: list[tuple[str, str]], number: int, *, drafted: bool) -> list[dict]:
    """A revision's messages; `drafted`: the last reply began as an AI draft that the
    labeler rewrote (its first half kept, the rest replaced: well above a 10% threshold)."""
    messages = [
        {
            "role": role,
            "content": f"{text} (#{number})" if index == 0 else text,
            "origin": "human",
            "model_original": "",
        }
        for index, (role, text) in enumerate(shape)
    ]
    if drafted and messages[-1]["role"] == "assistant":
        words = messages[-1]["content"].split()
        kept = " ".join(words[: len(words) // 2])
        messages[-1]["origin"] = "model_edited"
        messages[-1]["model_original"] = f"{kept} and so on, as a first draft would say it."
    return messages


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_export(slug: str) -> dict:
    from exports.services import export_config_from_dict, export_run
    from sftpipeline.tokenizers import load_cl100k_base

    config = export_config_from_dict({"projects": [slug], "val_fraction": 0.05})
    load_cl100k_base()  # both sides time steady-state work, not loading the vocabulary
    # Loading the vocabulary sets the process's high-water mark; the export's own working set
    # is sampled after every chunk (current RSS) so that its growth with the data shows.
    samples = [_current_rss_mb()]

    def progress(done: int, total: int) -> None:
        samples.append(_current_rss_mb())

    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        rss_before = _peak_rss_mb()
        started = time.perf_counter()
        manifest = export_run(config=config, destination=Path(folder) / "out", progress=progress)
        seconds = time.perf_counter() - started
    stats = manifest["token_statistics"]
    return {
        "conversations": manifest["counts"]["exported"],
        "tokens": stats["tokens"],
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss_before,
        "export_rss_start_mb": samples[0],
        "export_rss_peak_mb": max(samples),
    }


def measure_tiktoken(slug: str) -> dict:
    from conversations.models import Conversation
    from sftpipeline.tokenizers import load_cl100k_base

    encoding = load_cl100k_base().encoding
    batches: list[list[str]] = []
    current: list[str] = []
    revisions = Conversation.objects.filter(project__slug=slug, state="approved").order_by("id")
    for messages in revisions.values_list("current_revision__messages", flat=True).iterator(
        chunk_size=5000
    ):
        current.extend(m["content"] for m in messages)
        current.extend(m["role"] for m in messages)
        if len(current) >= 4000:
            batches.append(current)
            current = []
    if current:
        batches.append(current)
    conversations = revisions.count()
    encoding.encode_ordinary_batch(batches[0][:10])  # warm up the thread pool
    tokens = 0
    started = time.perf_counter()
    for texts in batches:
        tokens += sum(map(len, encoding.encode_ordinary_batch(texts)))
    seconds = time.perf_counter() - started
    return {"conversations": conversations, "tokens": tokens, "seconds": seconds}


def _child(kind: str, slug: str, database_url: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--project", slug, "--database", database_url],
        env=_environment(database_url),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if output.returncode:
        raise SystemExit(f"{kind} run failed:\n{output.stderr[-3000:]}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--child", choices=["export", "tiktoken", "preference"])
    parser.add_argument("--project")
    parser.add_argument("--preference", action="store_true", help="the preference benchmark")
    args = parser.parse_args()
    if not args.database.startswith("postgres"):
        raise SystemExit("Run this on PostgreSQL: DATABASE_URL=postgres://…")
    if args.child:
        _setup(args.database)
        measure = {
            "export": measure_export,
            "tiktoken": measure_tiktoken,
            "preference": measure_preference,
        }[args.child]
        print(json.dumps(measure(args.project)))
        return
    if args.preference:
        preference_main(args.database, [int(size) for size in args.sizes.split(",")])
        return

    create_database(args.database)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=_environment(args.database),
        check=True,
        cwd=ROOT,
    )
    _setup(args.database)
    sizes = [int(size) for size in args.sizes.split(",")]
    source = f"{DATA.name} (texts cycled)" if DATA.exists() else "generated text"
    print(f"Seeding approved conversations shaped like {source} …")
    for size in sizes:
        _seed(f"bench-export-{size}", size)

    results = {}
    for size in sizes:
        slug = f"bench-export-{size}"
        export = _child("export", slug, args.database)
        raw = _child("tiktoken", slug, args.database)
        results[size] = export
        ratio = (export["tokens"] / export["seconds"]) / (raw["tokens"] / raw["seconds"])
        conv_ratio = (export["conversations"] / export["seconds"]) / (
            raw["conversations"] / raw["seconds"]
        )
        print(f"\n{size:,} approved conversations in PostgreSQL")
        print(
            f"  export:   {export['conversations'] / export['seconds']:>10,.0f} conversations/s "
            f"{export['tokens'] / export['seconds']:>12,.0f} tokens/s "
            f"({export['tokens']:,} tokens in {export['seconds']:.1f}s)"
        )
        print(
            f"  tiktoken: {raw['conversations'] / raw['seconds']:>10,.0f} conversations/s "
            f"{raw['tokens'] / raw['seconds']:>12,.0f} tokens/s "
            f"(encode_ordinary_batch, {raw['tokens']:,} tokens in {raw['seconds']:.1f}s)"
        )
        print(
            f"  ratio export / raw tokenizer: {ratio:.2f} tokens/s, {conv_ratio:.2f} conversations/s (target ≥ 0.5)"
        )
        print(
            f"  peak RSS of the export process: {export['peak_rss_mb']:.0f} MB high-water "
            f"({export['rss_before_mb']:.0f} MB after loading Django and the vocabulary); "
            f"sampled after each chunk: {export['export_rss_start_mb']:.0f} MB at start, "
            f"{export['export_rss_peak_mb']:.0f} MB at most"
        )
    if len(sizes) >= 2:
        small, large = results[sizes[0]], results[sizes[-1]]
        print(
            f"\nPeak RSS {sizes[-1]:,} / {sizes[0]:,}: "
            f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}× high-water, "
            f"{large['export_rss_peak_mb'] / small['export_rss_peak_mb']:.2f}× sampled during "
            "the export (target ≤ 1.5×)"
        )


# Preference pairs (contract 7) -----------------------------------------------------


def measure_preference(slug: str) -> dict:
    """The `preference` export (pair JSONL + tokenized pair Parquet) of the project, timed."""
    from exports.services import export_config_from_dict, export_run
    from sftpipeline.tokenizers import load_cl100k_base

    config = export_config_from_dict(
        {"projects": [slug], "val_fraction": 0.05, "formats": "preference"}
    )
    load_cl100k_base()
    with tempfile.TemporaryDirectory(prefix="bench-preference-") as folder:
        started = time.perf_counter()
        manifest = export_run(config=config, destination=Path(folder) / "out")
        seconds = time.perf_counter() - started
    return {
        "conversations": manifest["counts"]["read"],
        "pairs": manifest["counts"]["preference"]["pairs"],
        "seconds": seconds,
    }


def preference_main(database_url: str, sizes: list[int]) -> None:
    """Seed `bench-preference-{size}` (a third of the replies rewritten AI drafts) and print
    pairs/s of the preference export beside conversations/s of the SFT export."""
    create_database(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=_environment(database_url),
        check=True,
        cwd=ROOT,
    )
    _setup(database_url)
    for size in sizes:
        slug = f"bench-preference-{size}"
        _seed(slug, size, drafted_every=3)
        sft = _child("export", slug, database_url)
        pairs = _child("preference", slug, database_url)
        sft_rate = sft["conversations"] / sft["seconds"]
        pair_rate = pairs["pairs"] / pairs["seconds"]
        print(f"\n{size:,} approved conversations, a third begun as AI drafts people rewrote")
        print(
            f"  SFT export (jsonl + parquet): {sft_rate:>10,.0f} conversations/s "
            f"({sft['conversations']:,} in {sft['seconds']:.1f}s)"
        )
        print(
            f"  preference export:            {pair_rate:>10,.0f} pairs/s "
            f"({pairs['pairs']:,} pairs from {pairs['conversations']:,} conversations in "
            f"{pairs['seconds']:.1f}s; {pairs['conversations'] / pairs['seconds']:,.0f} "
            "conversations/s read)"
        )
        print(f"  pairs/s ÷ SFT conversations/s: {pair_rate / sft_rate:.2f} (target ≥ 0.8)")


if __name__ == "__main__":
    main()
