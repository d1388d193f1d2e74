"""results.json as typed records (labagent/record.py) and its published JSON Schema
(docs/results.schema.json): every fixture's results.json reads, round-trips byte for byte and validates."""
import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from labagent import record
from labagent.errors import LabError
from labagent.experiment import Params

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("**/results.json"))
SCHEMA = json.loads((ROOT / "docs" / "results.schema.json").read_text())


def _load(path):
    return json.loads(path.read_text())


def _id(path):
    return str(path.parent.relative_to(ROOT / "tests" / "fixtures"))


def test_there_are_fixtures_to_check():
    assert len(FIXTURES) >= 30


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_every_fixture_validates_against_the_published_schema(path):
    jsonschema.Draft202012Validator(SCHEMA).validate(_load(path))


@pytest.mark.parametrize("path", FIXTURES, ids=_id)
def test_every_fixture_round_trips_through_the_record_exactly(path):
    data = _load(path)
    again = record.from_json(data).to_json()
    assert json.dumps(again, indent=1) == json.dumps(data, indent=1)  # same keys, same order, same values


def test_the_records_are_typed():
    rec = record.RunRecord.from_json(_load(ROOT / "tests/fixtures/runs/variants/fullspeed/results.json"))
    assert rec.params.variant == "fullspeed" and rec.timing.first_touch_ns > rec.timing.second_pass_ns
    assert [p.name for p in rec.phases] == ["baseline", "allocated", "touching", "touched", "exited"]
    assert rec.snapshots["exited"].maps is None and rec.snapshots["touched"].maps.startswith("5652")
    assert rec.steps[0].bytes == rec.params.size_bytes and rec.outcome.status == "complete"
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.complete = False


def test_the_schema_file_is_current():
    done = subprocess.run([sys.executable, "scripts/results-schema.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_recorded_params_are_the_agents_params():
    assert [f.name for f in dataclasses.fields(record.RunParams)] == [f.name for f in dataclasses.fields(Params)]
    params = dataclasses.asdict(Params(variant="free"))
    assert record._to_json(record.RunParams(**params)) == params


BASE = ROOT / "tests/fixtures/runs/debian12-madvise/results.json"


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("outcome"), "results.json: missing 'outcome'"),
    (lambda d: d.__setitem__("extra", 1), "results.json: unknown field 'extra'"),
    (lambda d: d["phases"][1].__setitem__("start", "soon"), "results.json.phases[1].start: expected float"),
    (lambda d: d["steps"][0].__setitem__("index", 1.5), "results.json.steps[0].index: expected int"),
    (lambda d: d["snapshots"]["baseline"].__setitem__("t", True), "results.json.snapshots.baseline.t: expected float"),
    (lambda d: d.__setitem__("schema_version", "1"), "schema_version is '1'"),
])
def test_a_malformed_record_says_where(change, message):
    data = _load(BASE)
    change(data)
    with pytest.raises(record.RecordError) as caught:
        record.RunRecord.from_json(data)
    assert message in str(caught.value)


@pytest.mark.parametrize("change", [
    lambda d: d.pop("outcome"),
    lambda d: d["phases"][0].__setitem__("name", "warming"),
    lambda d: d["params"].__setitem__("variant", "jemalloc"),
    lambda d: d["outcome"].__setitem__("status", "fine"),
    lambda d: d["summary"].pop("faults_per_mib"),
    lambda d: d["snapshots"].__setitem__("later", d["snapshots"]["baseline"]),
])
def test_the_schema_rejects_what_the_record_would_not_be(change):
    data = copy.deepcopy(_load(BASE))
    change(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(data)


def test_a_newer_schema_version_is_the_users_problem_in_one_line():
    data = _load(BASE)
    data["schema_version"] = record.SCHEMA_VERSION + 1
    with pytest.raises(LabError, match=r"^results.json has schema_version 2, newer than this malloc-lab reads \(1\)"):
        record.RunRecord.from_json(data)


def test_write_then_read(tmp_path):
    rec = record.RunRecord.from_json(_load(BASE))
    record.write(str(tmp_path), rec)
    assert record.read(str(tmp_path)) == rec
    assert not list(tmp_path.glob("*.tmp"))
