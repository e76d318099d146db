"""`harness mutate` (harness/mutation/) on a tiny project: a three-line module, its tests, and the
real selectors/*.toml. Each mutant is a real cosmic-ray mutation in a scratch copy and a real
`python -m pytest -x` process (~0.5 s each), so these tests take seconds, not minutes.

The break-it test is the issue's demonstration: the same module and mutants, once with tests
that assert, once with a test that swallows its assertion; the score drops and the report names
the surviving mutant's file:line and diff, routed to the component's owner."""
import json
import shutil
from pathlib import Path

import pytest

from harness import cli
from harness.config import components as mconfig
from harness.report.types import RunReport
from harness.runs import mutation as engine

REPO = Path(__file__).resolve().parents[2]

TINY = '''def scale(values, factor):
    return [v * factor for v in values]


def is_positive(x):
    return x > 0
'''
GOOD_TESTS = '''import tinycalc


def test_scale():
    assert tinycalc.scale([2], 3) == [6]


def test_is_positive():
    assert tinycalc.is_positive(1)
    assert not tinycalc.is_positive(0)
'''
# the assertion on the boundary is swallowed: `x > 0` -> `x >= 0` and 0 -> -1 go unnoticed
# (0 -> 1 is still killed: is_positive(1) turns false)
SWALLOWING_TESTS = '''import tinycalc


def test_scale():
    assert tinycalc.scale([2], 3) == [6]


def test_is_positive():
    assert tinycalc.is_positive(1)
    try:
        assert not tinycalc.is_positive(0)
    except AssertionError:
        pass
'''
COMPONENTS = '''[settings]
operators = ["core/ReplaceBinaryOperator_Mul_Div", "core/ReplaceComparisonOperator_Gt_GtE",
             "core/NumberReplacer"]
one_per_position = false
timeout_factor = 10.0
timeout_min_s = 20
workers = 2

[components.calc]
description = "the tiny calculator"
owner = "backend implementation"
modules = ["tinycalc"]
tests = ["tests/test_calc.py"]
target = 0.9
forbid_imports = ["tinyframework"]
'''


@pytest.fixture
def tiny(project):
    shutil.copy(REPO / "selectors" / "owners.toml", project.path / "selectors" / "owners.toml")
    project.write("selectors/components.toml", COMPONENTS)
    project.write("tinycalc.py", TINY)
    project.write("tests/test_calc.py", GOOD_TESTS)
    return project


def mutate(project, monkeypatch, *args: str) -> int:
    monkeypatch.chdir(project.path)
    return cli.main(["mutate", *args])


def mutation_of(report: dict) -> dict:
    return report["mutation"]


def test_break_it_a_swallowed_assertion_drops_the_score_and_the_report_names_the_survivors(
        tiny, monkeypatch, capsys):
    assert mutate(tiny, monkeypatch) == 0
    good = tiny.report()
    calc = mutation_of(good)["components"]["calc"]
    # x*f -> x/f; x > 0 -> x >= 0; 0 -> 1 and 0 -> -1 (both NumberReplacer variants)
    assert (calc["total"], calc["killed"], calc["survived"], calc["score"]) == (4, 4, 0, 1.0)
    assert good["status"] == "passed" and good["exit_code"] == 0

    tiny.write("tests/test_calc.py", SWALLOWING_TESTS)
    assert mutate(tiny, monkeypatch) == 4          # below the 90 % target: exit 4
    broken = tiny.report()
    calc = mutation_of(broken)["components"]["calc"]
    assert calc["survived"] == 2 and calc["killed"] == 2 and calc["score"] == 0.5
    assert calc["verdict"] == "below_target" and broken["status"] == "over_budget"
    survivors = [m for m in mutation_of(broken)["mutants"] if m["outcome"] == "survived"]
    assert {(m["file"], m["line"]) for m in survivors} == {("tinycalc.py", 6)}
    assert any("-    return x > 0" in m["diff"] and "+    return x >= 0" in m["diff"]
               for m in survivors)
    # a finding and an escalation to the owner of selectors/owners.toml
    finding = next(f for f in broken["findings"] if f["source"] == "mutation")
    assert finding["severity"] == "violation" and "50.0 %" in finding["title"]
    assert any(item.startswith("tinycalc.py:6 [ReplaceComparisonOperator_Gt_GtE]")
               for item in finding["items"])
    esc = broken["escalations"][0]
    assert esc["component"] == "backend implementation" and esc["trigger"] == "mutation_survivor"
    assert "tinycalc.py:6" in esc["subjects"] and "harness mutate calc" in esc["next_step"]
    typed = RunReport.from_json(broken)  # the escalations read typed, the report round-trips
    assert json.dumps(typed.to_json()) == json.dumps(broken)
    assert [e.title for e in typed.escalations] == ["Mutation survivors: calc"]
    # report.md and report.html name the survivor with its diff; the trend shows the drop
    run = tiny.runs()[-1]
    markdown = (run / "report.md").read_text()
    assert "| calc | backend implementation | 50.0 % | 90.0 % | below_target |" in markdown
    assert "`tinycalc.py:6` core/ReplaceComparisonOperator_Gt_GtE" in markdown
    assert "100.0 % → 50.0 %" in markdown
    html = (run / "report.html").read_text()
    assert 'id="mutation"' in html and "<code>tinycalc.py:6</code>" in html and "x &gt;= 0" in html
    # junit.xml: a survivor is a failure carrying its diff; `harness validate` accepts the run
    junit = (run / "junit.xml").read_text()
    assert junit.count("<testcase") == 4 and 'failures="2"' in junit and "x &gt;= 0" in junit
    assert cli.main(["validate"]) == 0
    # the ledger keeps each run's scores, and `harness history` shows their trend
    lines = tiny.ledger_lines()
    assert [line["mutation"]["calc"]["score"] for line in lines] == [1.0, 0.5]
    capsys.readouterr()
    assert cli.main(["history", "--cadence", "mutation"]) == 0
    assert "100.0 % → 50.0 %" in capsys.readouterr().out


def test_an_equivalent_mutant_is_excused_with_its_reason_and_a_stale_entry_is_reported(
        tiny, monkeypatch, capsys):
    tiny.write("tests/test_calc.py", SWALLOWING_TESTS)
    tiny.write("selectors/equivalent_mutants.toml", '''
[[equivalent]]
file = "tinycalc.py"
line = 6
operator = "core/ReplaceComparisonOperator_Gt_GtE"
reason = "demonstration: pretend the boundary does not matter"

[[equivalent]]
file = "tinycalc.py"
line = 2
operator = "core/ReplaceComparisonOperator_Gt_GtE"
reason = "stale: no such mutant on line 2"
''')
    capsys.readouterr()
    assert mutate(tiny, monkeypatch) == 4
    live = capsys.readouterr().out  # the progress lines say which survivor is a listed one
    assert "survived, equivalent tinycalc.py:6 core/ReplaceComparisonOperator_Gt_GtE" in live
    assert live.count("SURVIVED") == 1
    report = tiny.report()
    calc = mutation_of(report)["components"]["calc"]
    assert calc["equivalent"] == 1 and calc["survived"] == 1
    assert calc["score"] == pytest.approx(2 / 3, abs=1e-4)
    excused = [m for m in mutation_of(report)["mutants"] if m["equivalent"]]
    assert [m["equivalent"] for m in excused] == ["demonstration: pretend the boundary does not matter"]
    stale = next(f for f in report["findings"] if "matched no mutant" in f["title"])
    assert stale["items"] == ["equivalent[1] tinycalc.py:2 core/ReplaceComparisonOperator_Gt_GtE: "
                              "remove it, or fix its line after the code moved"]


def test_shards_split_the_mutants_and_merge_into_the_full_score(tiny, monkeypatch):
    tiny.write("tests/test_calc.py", SWALLOWING_TESTS)
    # a shard is never judged alone (part of each component): exit 0, no findings
    assert mutate(tiny, monkeypatch, "--shard", "1/2", "-n", "1") == 0
    assert mutate(tiny, monkeypatch, "--shard", "2/2", "-n", "1") == 0
    first, second = tiny.runs()
    ids = [{m["id"] for m in tiny.report(run)["mutation"]["mutants"]} for run in (first, second)]
    assert tiny.report(first)["findings"] == [] and tiny.report(first)["pytest"]["shard"]["spec"] == "1/2"
    assert len(ids[0]) == len(ids[1]) == 2 and not ids[0] & ids[1]
    assert mutate(tiny, monkeypatch, "--merge", first.name, second.name) == 4
    merged = tiny.report()
    assert merged["merged_from"] == [first.name, second.name]
    calc = mutation_of(merged)["components"]["calc"]
    assert (calc["total"], calc["killed"], calc["survived"]) == (4, 2, 2)
    # shard lines are marked; the merged line is the one that counts in the trend
    assert [line.get("shard") for line in tiny.ledger_lines()] == ["1/2", "2/2", None]
    assert mutation_of(merged)["trend"]["calc"] == [0.5]
    assert mutate(tiny, monkeypatch, "--merge", first.name) == 2   # shard 2 missing


def test_a_mutant_that_hangs_the_tests_is_timed_out_not_survived(tiny, monkeypatch):
    tiny.write("tinycalc.py", "def count(n):\n    i = 0\n    while i < n:\n        i = i + 1\n"
                              "    return i\n")
    tiny.write("tests/test_calc.py", "import tinycalc\n\n\ndef test_count():\n"
                                     "    assert tinycalc.count(3) == 3\n")
    tiny.edit_toml("components.toml", '''operators = ["core/ReplaceBinaryOperator_Mul_Div", "core/ReplaceComparisonOperator_Gt_GtE",
             "core/NumberReplacer"]''', 'operators = ["core/ReplaceBinaryOperator_Add_Sub"]')
    tiny.edit_toml("components.toml", "timeout_min_s = 20", "timeout_min_s = 3")
    assert mutate(tiny, monkeypatch) == 0
    calc = mutation_of(tiny.report())["components"]["calc"]
    assert (calc["total"], calc["timed_out"], calc["score"]) == (1, 1, 1.0)


def test_tests_that_fail_unmutated_or_import_a_forbidden_framework_stop_the_run(
        tiny, monkeypatch, capsys):
    tiny.write("tinyframework.py", "")
    tiny.write("tests/test_calc.py", "import tinyframework\n\n\ndef test_nothing():\n    pass\n")
    assert mutate(tiny, monkeypatch) == 2
    err = capsys.readouterr().err
    assert "component 'calc': its tests fail without any mutant" in err
    assert "importguard: this test process imported tinyframework" in err
    assert tiny.report()["status"] == "error"


@pytest.mark.parametrize("old, new, message", [
    ('modules = ["tinycalc"]', 'modules = ["tinycalk"]',
     "selectors/components.toml: components.calc.modules[0]: module 'tinycalk' not found (no "
     "tinycalk.py or tinycalk/__init__.py under the project root; fix the dotted name)"),
    ('"core/NumberReplacer"', '"core/NumberReplace"',
     "selectors/components.toml: settings.operators[2]: unknown cosmic-ray operator "
     "'core/NumberReplace' (list them with `cosmic-ray operators`)"),
    ('owner = "backend implementation"', 'owner = "nobody"',
     "selectors/components.toml: components.calc.owner: unknown owner component 'nobody'"),
    ('tests = ["tests/test_calc.py"]', 'tests = ["tests/test_calk.py"]',
     "selectors/components.toml: components.calc.tests[0]: tests/test_calk.py does not exist"),
    ("target = 0.9", "target = 90",
     "selectors/components.toml: components.calc.target: must be a fraction in (0, 1]"),
    ("target = 0.9", "taget = 0.9", "selectors/components.toml: components.calc.taget: unknown key"),
])
def test_a_bad_component_map_is_one_error_naming_file_key_and_fix(tiny, monkeypatch, capsys, old,
                                                                   new, message):
    tiny.edit_toml("components.toml", old, new)
    assert mutate(tiny, monkeypatch, "--list") == 2
    assert message in capsys.readouterr().err


def test_an_unknown_component_is_a_usage_error(tiny, monkeypatch, capsys):
    assert mutate(tiny, monkeypatch, "calculator") == 2
    assert "no component 'calculator' (use one of calc)" in capsys.readouterr().err


def test_the_committed_component_map_covers_the_guarded_code():
    """selectors/components.toml of this checkout: every module of the issue is mutated, each
    component has mutants and tests, and the four with the 90 % target have it."""
    cfg = mconfig.load(REPO)
    modules = {m for c in cfg.components.values() for m in c.modules}
    assert {"ptycho.reference", "ptycho.tf.ops", "ptycho_torch.ops", "ptycho.archive",
            "ptycho.workflows.backend_selector", "ptycho.config.config", "ptycho.raw_data",
            "ptycho.tf.training", "ptycho_torch.training"} <= modules
    for name in ("tf_ops", "torch_ops", "reference", "archive", "dispatcher", "config_bridge"):
        assert cfg.components[name].target == 0.9
    for component in cfg.components.values():
        assert engine.enumerate_mutants(REPO, component, cfg.settings), component.name
        assert component.test_targets(cfg.harness)
    # torch-only tests must not pull TensorFlow in (and the reverse)
    assert "tensorflow" in cfg.components["torch_ops"].forbid_imports
    assert "torch" in cfg.components["tf_ops"].forbid_imports


def test_the_report_json_of_a_mutation_run_follows_the_schema(tiny, monkeypatch):
    jsonschema = pytest.importorskip("jsonschema")
    assert mutate(tiny, monkeypatch) == 0
    from harness.report.model import SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(tiny.report(), schema)


def test_a_mutation_cosmic_ray_cannot_apply_is_an_error_and_the_run_goes_on(tiny, monkeypatch):
    """cosmic-ray 8.7's ExceptionReplacer raises AttributeError on a dotted name in a tuple,
    `except (KeyError, a.B):` (seen on ptycho/archive.py:133); that
    mutant is reported as an error (not scored), the others are still tested."""
    tiny.write("tinycalc.py", "import json\n\n\ndef parse(text):\n    try:\n"
                              "        return json.loads(text)\n    except (KeyError, json.JSONDecodeError):\n"
                              "        return None\n    except ValueError:\n        return 0\n")
    tiny.write("tests/test_calc.py", "import tinycalc\n\n\ndef test_parse():\n"
                                     "    assert tinycalc.parse('[1]') == [1]\n"
                                     "    assert tinycalc.parse('{') is None\n")
    tiny.edit_toml("components.toml", '''operators = ["core/ReplaceBinaryOperator_Mul_Div", "core/ReplaceComparisonOperator_Gt_GtE",
             "core/NumberReplacer"]''', 'operators = ["core/ExceptionReplacer"]')
    assert mutate(tiny, monkeypatch) == 4       # the one scored mutant survived: 0 %
    report = tiny.report()
    outcomes = sorted((m["line"], m["outcome"]) for m in mutation_of(report)["mutants"])
    assert outcomes == [(7, "error"), (7, "killed"), (9, "survived")]
    untested = next(f for f in report["findings"] if f["title"] == "Mutants that could not be tested")
    assert "tinycalc.py:7 core/ExceptionReplacer: cosmic-ray could not apply" in untested["items"][0]
