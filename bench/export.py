"""Benchmark: the sharded export on PostgreSQL with 1 and 2 worker processes, against raw tiktoken.

Seeds approved conversations with unique texts (the OpenAssistant paths of ../shared/data
when present, their user and assistant texts recombined and every message numbered, so no
two conversations and no two messages repeat; generated text otherwise). Then, for each
size and each worker count, in the same run:

* the export job as users run it: `export_job_create`, real `celery worker` processes
  (solo pool) that plan the shards, run them as a chord and publish; timed from the
  request to the published dataset. The peak RSS is each worker process's own high-water
  mark (VmHWM in /proc/<pid>/status), read just before it is stopped;
* the baseline: tiktoken's `encode_ordinary_batch` on exactly the same message texts
  (texts loaded beforehand, only the encode calls timed), and the same texts encoded one
  after another in one thread (as a worker does), scaled to the cores as if perfectly
  parallel: the floor of tokenizing alone on those cores.

Prints conversations/s for each worker count, the 2-to-1 worker ratio (target ≥ 1.7× on
2 cores), export vs raw tokenizer (target ≥ 0.9×) and the workers' peak RSS, ratios last.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sft_bench_export \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/export.py --workers 1,2 [--sizes 200000] [--shard-size N] [--no-raw]

`--preference` runs the preference benchmark instead (see `preference_main`): the same
seeding where a third of the conversations began as AI drafts that people rewrote, then
pairs/s of the `preference` export beside conversations/s of the SFT export of the same
data, both in this process on one shard (target ≥ 0.8×).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared/data beside the checkout; BENCH_DATA points elsewhere (e.g. from a worktree).
DATA = Path(
    os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data" / "oasst1_en_100_trees.jsonl")
)
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/sft_bench_export"
DOMAINS = ["python", "biology", "law", "math"]
sys.path.insert(0, str(ROOT))

from bench.common import create_database, production_environment  # noqa: E402


def _environment(database_url: str) -> dict:
    # DEBUG off, as in production: with DEBUG on Django keeps the last 9,000 queries' SQL
    # in every worker (the duplicate-hash queries alone are 70 kB each), which grows the
    # workers' memory with the export's length and is not what the export itself holds.
    return production_environment(database_url)


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


def _unique_messages(
    shapes: list[list[tuple[str, str]]], number: int, *, drafted: bool = False
) -> list[dict]:
    """Conversation `number`: the turns of one path with the assistant texts of another,
    every message tagged with the conversation's number, so none repeats. `drafted`: the
    last reply began as an AI draft that the labeler rewrote (its first half kept, the rest
    replaced: well above a 10% threshold)."""
    turns = shapes[number % len(shapes)]
    other = shapes[(number * 7 + 3) % len(shapes)]
    answers = [text for role, text in other if role == "assistant"] or ["…"]
    messages = []
    for index, (role, text) in enumerate(turns):
        if role == "assistant":
            text = answers[index % len(answers)]
        messages.append(
            {
                "role": role,
                "content": f"{text} [{number}.{index}]",
                "origin": "human",
                "model_original": "",
            }
        )
    if drafted and messages[-1]["role"] == "assistant":
        words = messages[-1]["content"].split()
        kept = " ".join(words[: len(words) // 2])
        messages[-1]["origin"] = "model_edited"
        messages[-1]["model_original"] = f"{kept} and so on, as a first draft would say it."
    return messages


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
    from sftpipeline.split import snapshot_dedup_key

    shapes = _conversation_shapes()
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
            snapshots = [
                _unique_messages(
                    shapes,
                    offset + i,
                    drafted=bool(drafted_every) and (offset + i) % drafted_every == 0,
                )
                for i in range(size)
            ]
            revisions = Revision.objects.bulk_create(
                Revision(
                    conversation=conversation,
                    number=1,
                    kind="submit",
                    messages=snapshot,
                    content_hash=snapshot_dedup_key(snapshot),
                )
                for conversation, snapshot in zip(conversations, snapshots, strict=True)
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


def _worker_peak_rss_mb(pid: int) -> float:
    """The worker process's own high-water RSS (not this parent's)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_export(slug: str, workers: int, database_url: str, shard_size: int) -> dict:
    """The export job through `workers` real worker processes on a queue of this run's own."""
    from conversations.models import Conversation
    from exports.models import ExportJob
    from exports.services import export_config_from_dict, export_job_create
    from labeling.services import member_save

    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    env = {
        **_environment(database_url),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "EXPORT_SHARD_SIZE": str(shard_size),
        "EXPORT_ROOT": tempfile.mkdtemp(prefix="bench-export-"),
    }
    processes = []
    for number in range(workers):
        log = open(Path(env["EXPORT_ROOT"]) / f"worker-{number}.log", "w")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool=solo",
                    "-l",
                    "INFO",
                ]
                + ["-Q", queue, "-n", f"bench-{number}-{uuid.uuid4().hex[:6]}@%h"]
                + ["--without-heartbeat", "--without-mingle", "--without-gossip"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    for number in range(workers):
        log_path = Path(env["EXPORT_ROOT"]) / f"worker-{number}.log"
        while "ready." not in log_path.read_text():
            time.sleep(0.2)
    admin, _ = member_save(
        username="bench-admin", roles=["admin"], labeler_domains=[], reviewer_domains=[]
    )
    config = export_config_from_dict({"projects": [slug], "val_fraction": 0.05})
    started = time.perf_counter()
    job = export_job_create(config=config, created_by=admin)
    while job.is_active:
        time.sleep(0.2)
        job.refresh_from_db()
    seconds = time.perf_counter() - started
    peaks = [_worker_peak_rss_mb(process.pid) for process in processes]
    for process in processes:
        process.kill()
        process.wait()
    if job.status != ExportJob.Status.SUCCEEDED:
        raise SystemExit(f"the export failed: {job.error}")
    return {
        "conversations": job.manifest["counts"]["exported"],
        "matched": Conversation.objects.filter(project__slug=slug).count(),
        "tokens": job.manifest["token_statistics"]["tokens"],
        "shards": job.shards.count(),
        "seconds": seconds,
        "peak_rss_mb": max(peaks),
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
    # The same texts one after another in this thread, as an export worker encodes them.
    started = time.perf_counter()
    for texts in batches:
        for text in texts:
            encoding.encode_ordinary(text)
    sequential = time.perf_counter() - started
    return {
        "conversations": conversations,
        "tokens": tokens,
        "seconds": seconds,
        "sequential_seconds": sequential,
    }


def _raw_rates(slug: str, database_url: str, cores: int) -> tuple[float, float]:
    """Conversations/s of tiktoken's batch call, and of one text after another on `cores`
    cores (ideal: the one-thread rate times the cores, as if processes scaled perfectly)."""
    raw = _child("tiktoken", slug, database_url)
    raw_rate = raw["conversations"] / raw["seconds"]
    core_rate = cores * raw["conversations"] / raw["sequential_seconds"]
    print(
        f"  raw tiktoken: {raw_rate:>9,.0f} conversations/s "
        f"(encode_ordinary_batch, {raw['tokens']:,} tokens in {raw['seconds']:.1f}s)"
    )
    print(
        f"  raw tiktoken, one text after another: {core_rate:>9,.0f} conversations/s "
        f"on {cores} cores (ideal: {raw['sequential_seconds']:.1f}s on one core / {cores})"
    )
    return raw_rate, core_rate


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
    parser.add_argument("--sizes", default="200000")
    parser.add_argument("--child", choices=["tiktoken", "sft", "preference"])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--shard-size", type=int, default=0, help="conversations per shard (default: size / 8)"
    )
    parser.add_argument("--project")
    parser.add_argument(
        "--no-raw", action="store_true", help="skip the raw tokenizer runs (export figures only)"
    )
    parser.add_argument("--preference", action="store_true", help="the preference benchmark")
    args = parser.parse_args()
    if not args.database.startswith("postgres"):
        raise SystemExit("Run this on PostgreSQL: DATABASE_URL=postgres://…")
    # This run's own queue, set before Django reads its settings.
    os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-export-{uuid.uuid4().hex[:8]}")
    if args.child:
        _setup(args.database)
        measure = {
            "tiktoken": measure_tiktoken,
            "sft": measure_sft,
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
    source = f"{DATA.name} (texts recombined, numbered)" if DATA.exists() else "generated text"
    print(f"Seeding approved conversations shaped like {source} …")
    for size in sizes:
        _seed(f"bench-export-{size}", size)

    worker_counts = [int(count) for count in args.workers.split(",")]
    ratios: list[str] = []
    peaks: dict[int, float] = {}
    for size in sizes:
        slug = f"bench-export-{size}"
        shard_size = args.shard_size or max(1000, size // 8)
        cores = max(worker_counts)
        print(f"\n{size:,} approved conversations in PostgreSQL, shards of {shard_size:,}")
        raw_rate, core_rate = (0.0, 0.0) if args.no_raw else _raw_rates(slug, args.database, cores)
        rates = {}
        for workers in worker_counts:
            export = measure_export(slug, workers, args.database, shard_size)
            rates[workers] = export["matched"] / export["seconds"]
            peaks[size] = max(peaks.get(size, 0.0), export["peak_rss_mb"])
            print(
                f"  export, {workers} worker(s): {rates[workers]:>9,.0f} conversations/s "
                f"({export['shards']} shards, {export['tokens']:,} tokens in "
                f"{export['seconds']:.1f}s); peak RSS of a worker {export['peak_rss_mb']:.0f} MB"
            )
        low, high = min(worker_counts), max(worker_counts)
        if high != low:
            ratios.append(
                f"{size:,}: conversations/s {high} workers / {low} worker: "
                f"{rates[high] / rates[low]:.2f}x (target >= 1.7x on 2 cores)"
            )
        if raw_rate:
            ratios.append(
                f"{size:,}: export ({low} worker) / raw tokenizer: "
                f"{rates[low] / raw_rate:.2f}x; ({high} workers / raw tokenizer "
                f"{rates[high] / raw_rate:.2f}x; target >= 0.9x)"
            )
            ratios.append(
                f"{size:,}: export ({high} workers) / raw tokenizer one text after another "
                f"on {cores} cores (ideal): {rates[high] / core_rate:.2f}x"
            )
    if len(sizes) >= 2:
        ratios.append(
            f"peak worker RSS {sizes[-1]:,} / {sizes[0]:,}: "
            f"{peaks[sizes[-1]] / peaks[sizes[0]]:.2f}x (target <= 1.1x)"
        )
    print()
    for line in ratios:
        print(line)


# Preference pairs (contract 7) -----------------------------------------------------


def measure_sft(slug: str) -> dict:
    """The SFT export (JSONL + Parquet) of the project in this process, one shard, timed."""
    return _measure_run(slug, "jsonl,parquet")


def measure_preference(slug: str) -> dict:
    """The `preference` export (pair JSONL + tokenized pair Parquet), one shard, timed."""
    return _measure_run(slug, "preference")


def _measure_run(slug: str, formats: str) -> dict:
    from exports.services import export_config_from_dict, export_run
    from sftpipeline.tokenizers import load_cl100k_base

    config = export_config_from_dict({"projects": [slug], "val_fraction": 0.05, "formats": formats})
    load_cl100k_base()
    with tempfile.TemporaryDirectory(prefix="bench-preference-") as folder:
        started = time.perf_counter()
        manifest = export_run(config=config, destination=Path(folder) / "out", shard_size=1 << 30)
        seconds = time.perf_counter() - started
    return {
        "conversations": manifest["counts"]["read"],
        "pairs": manifest["counts"].get("preference", {}).get("pairs", 0),
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
        sft = _child("sft", slug, database_url)
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
