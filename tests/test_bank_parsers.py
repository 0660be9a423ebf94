"""Bank file parsers: the public ISO 20022 samples, our own bank's files, CSV profiles."""

from __future__ import annotations

import tracemalloc
from datetime import date
from pathlib import Path

import pytest

from reconciliation import camt054, csvreturn, pain002
from reconciliation.banksim import Anomalies, Instructed, write_camt054
from reconciliation.banksim import camt054 as sim_camt054
from reconciliation.banksim import pain002 as sim_pain002
from reconciliation.detect import detect_kind
from reconciliation.entries import BankEntry, BankFileRefused, GroupStatus

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "iso20022"
BANK = Path(__file__).parent / "fixtures" / "bank"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"public samples not present at {SAMPLES}")
    return path.read_bytes()


def entries(data: bytes) -> list[BankEntry | GroupStatus]:
    kind = detect_kind(data)
    return list(camt054.parse(data) if kind == "camt054" else pain002.parse(data))


def test_postfinance_camt054_return_with_ac01() -> None:
    (e,) = entries(sample("camt.054.001.04_postfinance_return-rrtn-ac01.xml"))
    assert isinstance(e, BankEntry)
    assert (e.kind, e.end_to_end_id, e.amount, e.currency, e.reason_code) == (
        "returned",
        "EndToEndId-001-03-04",
        50000,
        "CHF",
        "AC01",
    )
    assert e.booking_date == date(2020, 11, 24)


def test_finnish_camt054_batch_debits_and_returns_skipping_incoming_credits() -> None:
    found = entries(sample("camt.054.001.02_fffs-finland_rtrinf-ac01-cust.xml"))
    kinds = [e.kind for e in found if isinstance(e, BankEntry)]
    # Entries 4 and 5 are debit batches (3 + 2 transactions); entry 6 returns 2 (AC01, CUST);
    # entries 1-3 are customers' incoming credits, not results of our payments.
    assert kinds == ["executed"] * 5 + ["returned"] * 2
    first = found[0]
    assert isinstance(first, BankEntry)
    assert (first.amount, first.creditor_name, first.creditor_account) == (
        200002,
        "Creditor Company",
        "29501800020582",
    )
    assert [e.reason_code for e in found[-2:]] == ["AC01", "CUST"]  # type: ignore[union-attr]


def test_camt054_001_08_batch_with_creditor_party_names() -> None:
    found = entries(sample("camt.054.001.08_genkgo_debit-batch.xml"))
    assert [(e.end_to_end_id, e.amount, e.creditor_name) for e in found] == [  # type: ignore[union-attr]
        ("UXC06170000006PI00001EE00001", 310, "Example Creditor 3 - V1"),
        ("UXC06170000006PI00001EE00002", 320, "Example Creditor 3 - V2"),
        ("UXC06170000006PI00001EE00002", 320, "Example Creditor 3 - V3"),
    ]


def test_prefixed_namespace_camt054_parses() -> None:
    (e,) = entries(sample("camt.054.001.08_prefixed-ns_splmtrydata.xml"))
    assert (e.kind, e.end_to_end_id, e.amount, e.currency) == (  # type: ignore[union-attr]
        "executed",
        "E2E-0002",
        4250,
        "USD",
    )


def test_pain002_transaction_rejection_am05() -> None:
    (e,) = entries(sample("pain.002.001.03_iso-mdr-example_txsts-rjct-am05.xml"))
    assert isinstance(e, BankEntry)
    assert (e.kind, e.end_to_end_id, e.reason_code, e.amount) == (
        "rejected",
        "VA100327/0123",
        "AM05",
        102500,
    )
    assert e.reason_text == "duplication"


def test_pain002_group_statuses() -> None:
    (accepted,) = entries(sample("pain.002.001.03_iso-mdr-example_grpsts-accp.xml"))
    assert isinstance(accepted, GroupStatus) and accepted.status == "ACCP"
    (rejected,) = entries(sample("pain.002.001.03_nordea_grpsts-rjct-du01.xml"))
    assert isinstance(rejected, GroupStatus)
    assert (rejected.scope, rejected.original_message_id, rejected.reason_code) == (
        "message",
        "MSGID-PS-TEST-0708-01",
        "DU01",
    )


def test_pain002_001_10_partial_rejection() -> None:
    found = entries(sample("pain.002.001.10_sepa_part-rjct-ac01.xml"))
    txs = [(e.end_to_end_id, e.kind, e.reason_code) for e in found if isinstance(e, BankEntry)]
    assert txs == [("SUP-0007-A", "accepted", None), ("SUP-0007-B", "rejected", "AC01")]


def test_swiss_pain002_variant_is_read() -> None:
    (e,) = entries(sample("pain.002.001.03.ch.02_postfinance_part-rjct-ac01.xml"))
    assert (e.end_to_end_id, e.kind, e.reason_code) == (  # type: ignore[union-attr]
        "EndToEndId-001-03-04",
        "rejected",
        "AC01",
    )


def test_a_file_without_the_iso_namespace_is_refused_with_the_reason() -> None:
    with pytest.raises(BankFileRefused, match="namespace 'none'"):
        entries(sample("pain.002.001.03_crossriver_malformed-xmlns.xml"))


def test_pain001_is_not_a_bank_return() -> None:
    with pytest.raises(BankFileRefused, match=r"pain\.001"):
        detect_kind(sample("pain.001.001.03_sepa-lt_utf8-bom.xml"))


def test_truncated_xml_is_refused() -> None:
    good = sim_camt054([Instructed("E1", "10.00", "张三", "6222", date(2026, 6, 10), "R1")])
    with pytest.raises(BankFileRefused, match="malformed XML"):
        list(camt054.parse(good[: len(good) // 2]))


def test_our_simulated_bank_round_trips_every_field() -> None:
    paid = [
        Instructed(
            "202606R1AAAA",
            "1560.00",
            "王秀兰",
            "6228480000000000011",
            date(2026, 6, 10),
            "R202606-all-1",
        ),
        Instructed(
            "202606R1BBBB",
            "90.50",
            "张伟",
            "6228480000000000014",
            date(2026, 6, 20),
            "R202606-all-1",
        ),
    ]
    found = list(camt054.parse(sim_camt054(paid, Anomalies(returned={"202606R1BBBB": "AC04"}))))
    assert [(e.kind, e.end_to_end_id, e.amount, e.creditor_name, e.reason_code) for e in found] == [
        ("executed", "202606R1AAAA", 156000, "王秀兰", None),
        ("executed", "202606R1BBBB", 9050, "张伟", None),
        ("returned", "202606R1BBBB", 9050, "张伟", "AC04"),
    ]
    assert found[2].booking_date == date(2026, 6, 22)
    status = list(pain002.parse(sim_pain002(paid, Anomalies(rejected={"202606R1AAAA": "AC06"}))))
    assert [(e.end_to_end_id, e.kind, e.reason_code) for e in status] == [  # type: ignore[union-attr]
        ("202606R1AAAA", "rejected", "AC06"),
        ("202606R1BBBB", "accepted", None),
    ]


@pytest.mark.parametrize("profile", ["icbc", "ccb", "abc"])
def test_each_bank_profile_reads_its_fixture(profile: str) -> None:
    data = (BANK / f"{profile}.txt").read_bytes()
    assert detect_kind(data) == "csv"
    found = list(csvreturn.parse(data, csvreturn.load_profile(profile)))
    assert [(e.kind, e.amount, e.reason_code) for e in found] == [
        ("executed", 156000, None),
        ("rejected", 118050, "BE01"),
        ("rejected", 20000, "AC01"),
        ("rejected", 9050, "AC04"),
        ("rejected", 208000, "AC06"),
    ]
    assert found[0].end_to_end_id == "202612R1ABCDEFGHIJKLMNOPQRST"
    assert found[0].creditor_name == "王秀兰"
    assert found[4].booking_date == date(2026, 12, 11)


def test_profiles_with_a_header_are_detected_and_headerless_ones_need_naming() -> None:
    assert csvreturn.detect_profile((BANK / "icbc.txt").read_bytes()).name == "icbc"  # type: ignore[union-attr]
    assert csvreturn.detect_profile((BANK / "abc.txt").read_bytes()).name == "abc"  # type: ignore[union-attr]
    assert csvreturn.detect_profile((BANK / "ccb.txt").read_bytes()) is None


def test_a_bad_csv_row_refuses_the_file_naming_its_line() -> None:
    lines = (BANK / "icbc.txt").read_bytes().decode("gbk").splitlines()
    lines[3] = lines[3].replace("200.00", "2O0.00")
    with pytest.raises(BankFileRefused, match="line 4"):
        list(csvreturn.parse("\n".join(lines).encode("gbk"), csvreturn.load_profile("icbc")))
    lines = (BANK / "icbc.txt").read_bytes().decode("gbk").splitlines()
    lines[2] = lines[2].replace("|失败|", "|处理中|")
    with pytest.raises(BankFileRefused, match="line 3: unknown status"):
        list(csvreturn.parse("\n".join(lines).encode("gbk"), csvreturn.load_profile("icbc")))


def test_a_camt054_with_60k_entries_parses_in_flat_memory(tmp_path: Path) -> None:
    paid = (
        Instructed(
            f"202606R1{i:020d}", "1000.00", "王秀兰", "6228480000000000011", date(2026, 6, 10), "R1"
        )
        for i in range(60_000)
    )
    path = tmp_path / "big.xml"
    with path.open("wb") as f:
        write_camt054(f, paid)
    data = path.read_bytes()
    tracemalloc.start()
    count = sum(1 for _ in camt054.parse(data))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 60_000
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB"
