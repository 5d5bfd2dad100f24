"""The seeded org and the simulator process: determinism, valid ids, policy principals, start-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from simulator.ids import IdAllocator, checksum_suffix
from simulator.options import default_policy_path
from simulator.schema import CATALOGUE
from simulator.seed import pod_for, seed_org
from simulator.store import Store, table_name
from simulator.testing import SimulatorHandle

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ANCHOR = datetime(2026, 3, 2, tzinfo=UTC)


def _seeded_rows(folder: Path, seed: int) -> dict[str, list[tuple[object, ...]]]:
    folder.mkdir()
    store = Store(folder / "org.sqlite3")
    try:
        seed_org(store, IdAllocator(pod_for(seed)), seed, ANCHOR, default_policy_path())
        return {
            name: store.execute(f'SELECT * FROM "{table_name(name)}" ORDER BY Id')
            for name in CATALOGUE
        }
    finally:
        store.close()


def test_same_seed_same_org(tmp_path: Path) -> None:
    """The same seed gives identical ids and rows; another seed gives other ids."""
    first = _seeded_rows(tmp_path / "a", 11)
    again = _seeded_rows(tmp_path / "b", 11)
    other = _seeded_rows(tmp_path / "c", 12)
    assert first == again
    assert {r[0] for r in first["Lead"]}.isdisjoint({r[0] for r in other["Lead"]})


def test_seeded_volumes_and_id_shapes(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """The org has users, queues, accounts and leads whose ids carry prefix and checksum."""
    counts = {name: c["live"] for name, c in fresh_sim.state()["counts"].items()}
    assert counts["Account"] >= 200 and counts["Lead"] >= 100 and counts["User"] >= 30
    assert counts["Task"] > 0 and counts["EmailMessage"] > 0 and counts["Contact"] > 0
    # Read by id: the SOQL subset does not yet accept `FROM Group` (GROUP is also a keyword).
    intake = sf.restful(f"sobjects/Group/{fresh_sim.intake_queue_id}")
    assert (intake["Name"], intake["Type"]) == ("Lead Intake", "Queue")
    for sobject, prefix in (("Lead", "00Q"), ("User", "005"), ("Account", "001")):
        for record in sf.query(f"SELECT Id FROM {sobject} LIMIT 20")["records"]:
            record_id = record["Id"]
            assert len(record_id) == 18 and record_id.startswith(prefix)
            assert record_id[15:] == checksum_suffix(record_id[:15])
    assert fresh_sim.org_id.startswith("00D") and len(fresh_sim.org_id) == 18
    inactive = sf.query("SELECT COUNT() FROM User WHERE IsActive = false")["totalSize"]
    assert inactive > 0
    zones = sf.query("SELECT TimeZoneSidKey FROM User")["records"]
    assert len({z["TimeZoneSidKey"] for z in zones}) > 3


def test_policy_principals_are_seeded(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """Every user and queue the routing policy names exists, so routing decisions can be written."""
    policy_file = default_policy_path()
    if policy_file is None:
        pytest.skip("no config/routing_policy.json in this checkout")
    policy = json.loads(policy_file.read_text())
    users = set(policy["owners"].values()) | {
        m["id"] for pool in policy["pools"].values() for m in pool["members"]
    }
    queues = set(policy["queues"].values())
    expected_users = {u for u in users if u.startswith("005")}
    found = sf.restful("composite/sobjects/User",
                       params={"ids": ",".join(sorted(expected_users)), "fields": "Id,IsActive"})  # fmt: skip
    assert all(record is not None for record in found)
    queue_ids = {q for q in queues | users if q.startswith("00G")}
    groups = sf.restful("composite/sobjects/Group",
                        params={"ids": ",".join(sorted(queue_ids)), "fields": "Id,Type"})  # fmt: skip
    assert [g["Type"] for g in groups] == ["Queue"] * len(queue_ids)


def test_reset_restores_the_seed(fresh_sim: SimulatorHandle, sf: Salesforce) -> None:
    """Reset forgets created records and returns to the seeded counts."""
    before = fresh_sim.state()["counts"]["Lead"]["live"]
    sf.Lead.create({"LastName": "Temporary", "Company": "X"})
    fresh_sim.reset()
    assert fresh_sim.state()["counts"]["Lead"]["live"] == before
    assert sf.query("SELECT COUNT() FROM Lead WHERE LastName = 'Temporary'")["totalSize"] == 0


def test_python_m_simulator_prints_one_line_and_stops_cleanly(tmp_path: Path) -> None:
    """The process prints its connection details as one JSON line and exits 0 on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLEET_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--pubsub-port", "0",
         "--state-dir", str(tmp_path), "--seed", "3"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        info = json.loads(line)
        assert set(info) == {"instance_url", "ca_bundle", "consumer_key", "username",
                             "private_key_path", "login_url", "pubsub_target"}  # fmt: skip
        assert info["instance_url"].startswith("https://127.0.0.1:")
        assert not info["instance_url"].endswith(":0")
        assert info["consumer_key"].startswith("3MVG9")
        assert Path(info["ca_bundle"]).is_file()
        assert Path(info["private_key_path"]).stat().st_mode & 0o777 == 0o600
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert stdout == ""
