"""``components logs``: the local replicas' output files, their tails, --replica and --follow."""

from __future__ import annotations

from pathlib import Path

from pilothouse.cli.component_logs import follow_files, tail_lines


def _with_replica_logs(api, tmp_path) -> list[Path]:
    """The fake provider's placements name two replicas whose logs are files in ``tmp_path``."""
    logs = [tmp_path / "r0.log", tmp_path / "r1.log"]
    logs[0].write_text("".join(f"zero {i}\n" for i in range(100)))
    logs[1].write_text("one a\none b\n")
    build = api.provider._with

    def with_replicas(placement, revisions, **details):
        placement = build(placement, revisions, **details)
        rev = next(iter(revisions), None)
        placement.details["replicas"] = [
            {"revision": rev, "pid": 100 + i, "port": 9000 + i, "url": None, "log": str(p)}
            for i, p in enumerate(logs)
        ]
        return placement

    api.provider._with = with_replicas
    return logs


def test_logs_tail_every_replica_or_one(api, cli, tmp_path):
    _with_replica_logs(api, tmp_path)
    api.add("greeter", "Running")
    result = cli("components", "logs", "greeter", "--tail", "2")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "[replica 0 pid 100] zero 98",
        "[replica 0 pid 100] zero 99",
        "[replica 1 pid 101] one a",
        "[replica 1 pid 101] one b",
    ]
    one = cli("components", "logs", "greeter", "--replica", "1")
    assert one.stdout.splitlines() == ["one a", "one b"]
    assert cli("components", "logs", "greeter", "--replica", "5").exit_code == 2


def test_logs_elsewhere_or_without_replicas_say_so(api, cli, tmp_path):
    logs = _with_replica_logs(api, tmp_path)
    api.add("greeter", "Running")
    logs[1].unlink()
    result = cli("components", "logs", "greeter")
    assert result.exit_code == 2 and "not on this" in result.output
    api.add("idle")
    assert "has no replicas running" in " ".join(cli("components", "logs", "idle").output.split())


def test_follow_prints_new_lines_once_and_starts_over_after_truncation(tmp_path):
    path = tmp_path / "r.log"
    path.write_text("old\n")
    _lines, offset = tail_lines(path, 10)
    seen: list[str] = []
    steps = iter(
        [
            lambda: path.write_text("old\nnew 1\npart"),
            lambda: path.write_text("old\nnew 1\npartial done\n"),
            lambda: path.write_text("fresh\n"),  # rotated: shorter than what was read
            lambda: None,
        ]
    )
    follow_files(
        [("", path, offset)],
        lambda _p, line: seen.append(line),
        interval=0,
        sleep=lambda _s: next(steps)(),
        max_polls=4,
    )
    assert seen == ["new 1", "partial done", "fresh"]


def test_tail_of_a_big_file_cuts_at_a_line():
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write("x" * 100_000 + "\n" + "".join(f"line {i}\n" for i in range(10)))
    lines, size = tail_lines(Path(f.name), 3)
    assert lines == ["line 7", "line 8", "line 9"] and size == Path(f.name).stat().st_size
    Path(f.name).unlink()
