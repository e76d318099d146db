"""ledger.jsonl: concurrent appends stay whole lines; readers skip and flag corrupt lines."""
import json
import multiprocessing

from harness.records import ledger

WRITERS, LINES = 4, 50


def write_lines(path, writer):
    for number in range(LINES):
        ledger.append(path, {"run_id": f"w{writer}-{number}", "writer": writer,
                             "padding": "x" * 2000})  # long lines tear first if unlocked


def test_concurrent_appends_are_all_valid(tmp_path):
    path = tmp_path / "ledger.jsonl"
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=write_lines, args=(path, w)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == WRITERS * LINES
    entries = [json.loads(line) for line in lines]
    assert sorted(e["run_id"] for e in entries) == sorted(
        f"w{w}-{n}" for w in range(WRITERS) for n in range(LINES))
    for writer in range(WRITERS):  # each writer's lines keep their order
        mine = [e["run_id"] for e in entries if e["writer"] == writer]
        assert mine == [f"w{writer}-{n}" for n in range(LINES)]


def test_corrupt_lines_are_skipped_and_reported(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger.append(path, {"run_id": "a"})
    with open(path, "a") as handle:
        handle.write('{"run_id": "torn", "stat')  # a writer died mid-line: no newline
    ledger.append(path, {"run_id": "b"})  # must start on a fresh line
    with open(path, "a") as handle:
        handle.write('["not", "an", "entry"]\n\n')
    entries, problems = ledger.read(path)
    assert [e["run_id"] for e in entries] == ["a", "b"]
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (2, "not valid JSON"), (4, "not a run entry")]
    assert ledger.read(tmp_path / "missing.jsonl") == ([], [])
