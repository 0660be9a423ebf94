"""Bank file parsers: public ISO 20022 samples, hand-made documents, CSV 回盘 profiles, scale."""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from reconciliation import camt054, csvreturn, pain002, xmlstream
from reconciliation.banksim import Anomalies, Instructed
from reconciliation.banksim import camt054 as sim_camt054
from reconciliation.banksim import pain002 as sim_pain002
from reconciliation.detect import detect_kind
from reconciliation.entries import BankEntry, BankFileRefused, GroupStatus

BANK = Path(__file__).parent / "fixtures" / "bank"
#: Other banks' files, copied from public repositories (origin and hashes in SOURCES.md there).
SAMPLES = BANK / "public"

# Payment ids shaped like the ledger's (ledger.payment.payment_id): period, kind, n, base32.
PAID = "202612R1HLSMJRZKUG4UH4NIAWJY"
WRONG_NAME = "202612R1XJGHNW4AOBWACCMPF7YR"
NO_ACCOUNT = "202612R1IIEGPZID6YXDSECNLBOI"
CLOSED = "202612R1NQHHPSD75TT6OLUVBBJR"
FROZEN = "202612R1L2BGXCOT45W7IEUFZIRR"
ARREARS = "202612A12XHM4XE3TOX3FQSHBU7J"


def parsed(data: bytes) -> list[BankEntry | GroupStatus]:
    """What the importer does: detect the kind, then parse everything."""
    kind = detect_kind(data)
    assert kind in ("camt054", "pain002")
    return list(camt054.parse(data) if kind == "camt054" else pain002.parse(data))


def only_entries(found: list[BankEntry | GroupStatus]) -> list[BankEntry]:
    return [e for e in found if isinstance(e, BankEntry)]


# ---------------------------------------------------------------------------------------
# The public samples (tests/fixtures/bank/public, see SOURCES.md there)
# ---------------------------------------------------------------------------------------


def check_fffs_finland(found: list[BankEntry | GroupStatus]) -> None:
    entries = only_entries(found)
    # Entries 1-3 are customers' incoming credits (4 without EndToEndId, 2 SEPA credits whose
    # payer set one): no return information, so kept and never returns. Entry 4 is a debit
    # batch of 3, entry 5 a debit batch of 2 in foreign currencies, entry 6 two failed
    # collections that are not booked (INFO).
    assert [(e.kind, e.aside) for e in entries] == (
        [("credited", "no_return_information")] * 6
        + [("executed", None)] * 5
        + [("returned", "not_booked")] * 2
    )
    payers = [e.end_to_end_id for e in entries[:6]]
    assert payers == [None] * 4 + ["EndToEndIdAT-41-001", "EndToEndIdAT-41-002"]
    assert [e.amount for e in entries] == [
        *(190000, 10000, 40000, 10000, 250000, 50000),
        *(200002, 100001, 123002, 50000, 50000, 4000, 6000),
    ]
    first = entries[6]
    assert (first.creditor_name, first.creditor_account, first.entry_ref) == (
        "Creditor Company",
        "29501800020582",
        "091029ACCTSTMTARCH03/1",
    )
    assert first.booking_date == first.value_date == date(2009, 10, 29)
    usd = entries[9]  # instructed USD 750.00, booked EUR 500.00: the booked amount counts
    assert (usd.end_to_end_id, usd.amount, usd.currency) == ("ISSRBKREF12345678", 50000, "EUR")
    assert usd.booking_date == date(2009, 10, 30) and usd.value_date is None
    assert [(e.reason_code, e.reason_text, e.status) for e in entries[11:]] == [
        ("AC01", "1+TILIÄ EI LÖYDY", "INFO"),
        ("CUST", "4+MAKSAJA PERUUTTANUT", "INFO"),
    ]


def check_genkgo_v2(found: list[BankEntry | GroupStatus]) -> None:
    entries = only_entries(found)
    assert len(entries) == 3
    assert {e.end_to_end_id for e in entries} == {"MUELL/FINP/RA12345"}
    # Three TxDtls without amounts: the entry's SEK 200000 is the batch, no one's amount.
    assert [e.amount for e in entries] == [None, None, None]
    assert [e.entry_ref for e in entries] == [f"AAAASESS-FP-ACCR001/{i}" for i in (1, 2, 3)]
    assert entries[0].currency == "SEK"
    assert entries[0].booking_date == date(2007, 10, 18)  # from BookgDt/DtTm
    assert entries[0].status == "BOOK"


def check_postfinance_return(found: list[BankEntry | GroupStatus]) -> None:
    assert found == [
        BankEntry(
            seq=1,
            kind="returned",
            end_to_end_id="EndToEndId-001-03-04",
            amount=50000,
            currency="CHF",
            booking_date=date(2020, 11, 24),
            value_date=date(2020, 11, 24),
            reason_code="AC01",
            reason_text="Kontonummer falsch",
            entry_ref="075820002ZZTJR1K",
            status="BOOK",
        )
    ]


def check_genkgo_v8(found: list[BankEntry | GroupStatus]) -> None:
    entries = only_entries(found)
    assert [(e.end_to_end_id, e.amount, e.currency, e.creditor_name) for e in entries] == [
        ("UXC06170000006PI00001EE00001", 310, "CHF", "Example Creditor 3 - V1"),
        ("UXC06170000006PI00001EE00002", 320, "CHF", "Example Creditor 3 - V2"),
        ("UXC06170000006PI00001EE00002", 320, "CHF", "Example Creditor 3 - V3"),
    ]
    assert entries[0].creditor_account == "CH4112345003131313131"  # an IBAN
    assert {e.status for e in entries} == {"BOOK"}  # from Sts/Cd
    assert entries[2].entry_ref == "ACSR160617103200001/3"


def check_prefixed_v8(found: list[BankEntry | GroupStatus]) -> None:
    # The EUR credit is a received transfer with the payer's EndToEndId: kept, not a return.
    # The USD debit is read as the file says; the importer compares currencies.
    common = {"booking_date": date(2026, 1, 16), "status": "BOOK"}
    assert found == [
        BankEntry(
            seq=1,
            kind="credited",
            end_to_end_id="E2E-0001",
            amount=150000,
            currency="EUR",
            aside="no_return_information",
            **common,  # type: ignore[arg-type]
        ),
        BankEntry(
            seq=2,
            kind="executed",
            end_to_end_id="E2E-0002",
            amount=4250,
            currency="USD",
            **common,  # type: ignore[arg-type]
        ),
    ]


def check_mdr_group_accepted(found: list[BankEntry | GroupStatus]) -> None:
    assert found == [
        GroupStatus(1, "message", "ABC/100928/CCT001", None, "ACCP", None, None),
    ]


def check_mdr_am05(found: list[BankEntry | GroupStatus]) -> None:
    assert found == [
        BankEntry(
            seq=1,
            kind="rejected",
            end_to_end_id="VA100327/0123",
            amount=102500,
            currency="USD",
            booking_date=date(2010, 6, 29),  # the report's creation day
            creditor_name="Virgay",
            reason_code="AM05",
            reason_text="duplication",  # no AddtlInf: the code's meaning
            entry_ref="RIT2010 657B",
            status="RJCT",
        )
    ]


def check_nordea_block_rejected(found: list[BankEntry | GroupStatus]) -> None:
    block, *txs = found
    assert block == GroupStatus(
        1,
        "payment_information",
        "MSGID-950-TEST2-2807-01",
        "PMTINFID-950-TEST2-2807-01",
        "RJCT",
        None,
        None,
    )
    assert [(e.end_to_end_id, e.kind, e.reason_code) for e in only_entries(txs)] == [
        ("ENDTOENDID-950-TEST2-2807-02", "rejected", "NARR"),
        ("ENDTOENDID-950-TEST2-2807-01", "rejected", "NARR"),
    ]
    assert txs[0].reason_text == (
        "CAP Invalid code or combinations in CategoryPurpose or ServiceLevel"
    )


def check_nordea_duplicate_message(found: list[BankEntry | GroupStatus]) -> None:
    assert found == [
        GroupStatus(
            1, "message", "MSGID-PS-TEST-0708-01", None, "RJCT", "DU01", "ISO Duplicate Message ID"
        )
    ]


def check_swiss_variant(found: list[BankEntry | GroupStatus]) -> None:
    block, tx = found
    assert isinstance(block, GroupStatus) and isinstance(tx, BankEntry)
    assert (block.scope, block.original_payment_information_id, block.status) == (
        "payment_information",
        "PmtInfId-001-03",
        "PART",
    )
    assert (tx.end_to_end_id, tx.kind, tx.reason_code, tx.reason_text) == (
        "EndToEndId-001-03-04",
        "rejected",
        "AC01",
        "1301813;Konto ungültig",
    )


def check_v10_partial(found: list[BankEntry | GroupStatus]) -> None:
    assert found[:2] == [
        GroupStatus(1, "message", "MSG-20260824-0007", None, "PART", None, None),
        GroupStatus(2, "payment_information", "MSG-20260824-0007", "BATCH-0007", "PART"),
    ]
    accepted, rejected = only_entries(found)
    assert (accepted.end_to_end_id, accepted.kind, accepted.amount, accepted.currency) == (
        "SUP-0007-A",
        "accepted",
        510000,
        "EUR",
    )
    assert (rejected.end_to_end_id, rejected.kind, rejected.reason_code) == (
        "SUP-0007-B",
        "rejected",
        "AC01",
    )
    assert rejected.creditor_account == "BE71096123456769"
    assert rejected.booking_date == date(2026, 8, 24)


PARSED: dict[str, Callable[[list[BankEntry | GroupStatus]], None]] = {
    "camt.054.001.02_fffs-finland_rtrinf-ac01-cust.xml": check_fffs_finland,
    "camt.054.001.02_genkgo_debit-batch.xml": check_genkgo_v2,
    "camt.054.001.04_postfinance_return-rrtn-ac01.xml": check_postfinance_return,
    "camt.054.001.08_genkgo_debit-batch.xml": check_genkgo_v8,
    "camt.054.001.08_prefixed-ns_splmtrydata.xml": check_prefixed_v8,
    "pain.002.001.03_iso-mdr-example_grpsts-accp.xml": check_mdr_group_accepted,
    "pain.002.001.03_iso-mdr-example_txsts-rjct-am05.xml": check_mdr_am05,
    "pain.002.001.03_nordea_pmtinf-rjct-2tx-narr.xml": check_nordea_block_rejected,
    "pain.002.001.03_nordea_grpsts-rjct-du01.xml": check_nordea_duplicate_message,
    "pain.002.001.03.ch.02_postfinance_part-rjct-ac01.xml": check_swiss_variant,
    "pain.002.001.10_sepa_part-rjct-ac01.xml": check_v10_partial,
}
#: Refused, and the reason a person reads.
REFUSED: dict[str, str] = {
    # 'Xmlns=' (capital X) is an ordinary attribute: the document has no namespace, so it
    # does not say which message or version it is. Guessing from the element names would let
    # any namespace-less XML in; the bank has to fix its file.
    "pain.002.001.03_crossriver_malformed-xmlns.xml": r"no namespace.*'Xmlns'.*lowercase",
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_every_bank_return_sample_has_an_expectation() -> None:
    returns = {p.name for p in SAMPLES.iterdir() if p.name.startswith(("pain.002", "camt.054"))}
    assert returns == set(PARSED) | set(REFUSED)


def test_public_samples_are_the_files_their_sources_name() -> None:
    """Each copy is byte for byte the file SOURCES.md names, and it names every copy."""
    sources = (SAMPLES / "SOURCES.md").read_text(encoding="utf-8")
    found = re.findall(r"^([0-9a-f]{64})  (\S+\.xml)$", sources, re.M)
    listed = {name: digest for digest, name in found}
    copies = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in SAMPLES.glob("*.xml")}
    assert copies == listed


@pytest.mark.parametrize("name", sorted(PARSED))
def test_public_sample_parses_to_what_the_file_says(name: str) -> None:
    PARSED[name](parsed(sample(name)))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_public_sample_is_refused_with_the_reason(name: str) -> None:
    data = sample(name)
    with pytest.raises(BankFileRefused, match=REFUSED[name]):
        detect_kind(data)
    with pytest.raises(BankFileRefused, match=REFUSED[name]):
        list(pain002.parse(data))


def test_a_swiss_reject_and_its_return_name_the_same_payment() -> None:
    (rejected,) = only_entries(
        parsed(sample("pain.002.001.03.ch.02_postfinance_part-rjct-ac01.xml"))
    )
    (returned,) = only_entries(parsed(sample("camt.054.001.04_postfinance_return-rrtn-ac01.xml")))
    assert rejected.end_to_end_id == returned.end_to_end_id == "EndToEndId-001-03-04"


@pytest.mark.parametrize(
    "name",
    [
        "pain.001.001.03_iso-mdr-example_3tx-multiccy.xml",
        "pain.001.001.03_sepa-single-tx_utf8-name.xml",
        "pain.001.001.03_sepaxml_sepa-batch-2tx.xml",
        "pain.001.001.03_sepa-lt_utf8-bom.xml",
    ],
)
def test_our_own_pain001_is_not_a_bank_return(name: str) -> None:
    data = sample(name)
    with pytest.raises(BankFileRefused, match=r"pain\.001\.001\.03"):
        detect_kind(data)
    with pytest.raises(BankFileRefused, match=r"not a camt\.054 document"):
        list(camt054.parse(data))
    with pytest.raises(BankFileRefused, match=r"not a pain\.002 document"):
        list(pain002.parse(data))


# ---------------------------------------------------------------------------------------
# Hand-made camt.054: a batch debit of three, returns, and a credit that is not ours
# ---------------------------------------------------------------------------------------

CAMT_V02 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>ICBC-N-20261210</MsgId><CreDtTm>2026-12-10T18:00:00+08:00</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>N1</Id><CreDtTm>2026-12-10T18:00:00+08:00</CreDtTm>
   <Acct><Id><Othr><Id>1202020109000012345</Id></Othr></Id></Acct>
   <Ntry>
    <NtryRef>ICBC20261210B001</NtryRef>
    <Amt Ccy="CNY">2940.50</Amt>
    <CdtDbtInd>DBIT</CdtDbtInd>
    <Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-10</Dt></BookgDt>
    <ValDt><Dt>2026-12-11</Dt></ValDt>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls>
     <Btch><NbOfTxs>3</NbOfTxs></Btch>
     <TxDtls>
      <Refs><EndToEndId>{PAID}</EndToEndId></Refs>
      <AmtDtls><TxAmt><Amt Ccy="CNY">1560.00</Amt></TxAmt></AmtDtls>
      <RltdPties>
       <Cdtr><Nm>王秀兰</Nm></Cdtr>
       <CdtrAcct><Id><Othr><Id>6222021001011234567</Id></Othr></Id></CdtrAcct>
      </RltdPties>
     </TxDtls>
     <TxDtls>
      <Refs><EndToEndId>{ARREARS}</EndToEndId></Refs>
      <AmtDtls><InstdAmt><Amt Ccy="CNY">1380.5</Amt></InstdAmt></AmtDtls>
      <RltdPties><Cdtr><Nm>赵春梅</Nm></Cdtr></RltdPties>
     </TxDtls>
     <TxDtls>
      <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
     </TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">90.50</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd>
    <Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-14</Dt></BookgDt>
    <AcctSvcrRef>ICBC20261214R007</AcctSvcrRef>
    <NtryDtls>
     <TxDtls>
      <Refs><EndToEndId>{CLOSED}</EndToEndId></Refs>
      <RltdPties>
       <Cdtr><Nm>张伟</Nm></Cdtr>
       <CdtrAcct><Id><Othr><Id>6228480000044567890</Id></Othr></Id></CdtrAcct>
      </RltdPties>
      <RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>
     </TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">5000.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd>
    <Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-14</Dt></BookgDt>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls><TxDtls><Refs><EndToEndId>FINANCE-BUREAU-ALLOC-12</EndToEndId></Refs></TxDtls></NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">2080.00</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd>
    <Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-15</Dt></BookgDt>
    <NtryDtls><TxDtls><Refs><EndToEndId>{FROZEN}</EndToEndId></Refs></TxDtls></NtryDtls>
   </Ntry>
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def test_camt054_v02_batch_debit_return_and_credits_that_are_no_returns() -> None:
    assert list(camt054.parse(CAMT_V02.encode())) == [
        BankEntry(
            seq=1,
            kind="executed",
            end_to_end_id=PAID,
            amount=156000,
            currency="CNY",
            booking_date=date(2026, 12, 10),
            value_date=date(2026, 12, 11),
            creditor_name="王秀兰",
            creditor_account="6222021001011234567",
            entry_ref="ICBC20261210B001/1",
            status="BOOK",
        ),
        BankEntry(
            seq=2,
            kind="executed",
            end_to_end_id=ARREARS,
            amount=138050,  # InstdAmt when there is no TxAmt
            currency="CNY",
            booking_date=date(2026, 12, 10),
            value_date=date(2026, 12, 11),
            creditor_name="赵春梅",
            entry_ref="ICBC20261210B001/2",
            status="BOOK",
        ),
        BankEntry(
            seq=3,
            kind="executed",
            end_to_end_id=None,  # NOTPROVIDED matches nothing
            amount=None,  # a batch total is not this transaction's amount
            currency="CNY",
            booking_date=date(2026, 12, 10),
            value_date=date(2026, 12, 11),
            entry_ref="ICBC20261210B001/3",
            status="BOOK",
        ),
        BankEntry(
            seq=4,
            kind="returned",
            end_to_end_id=CLOSED,
            amount=9050,  # the lone transaction takes the entry's amount
            currency="CNY",
            booking_date=date(2026, 12, 14),
            creditor_name="张伟",
            creditor_account="6228480000044567890",
            reason_code="AC04",
            reason_text="closed account number",
            entry_ref="ICBC20261214R007",
            status="BOOK",
        ),
        # The finance bureau's allocation and a bare credit naming one of our payments say
        # nothing of a return: money sent to us, kept with the file and never counted.
        BankEntry(
            seq=5,
            kind="credited",
            end_to_end_id="FINANCE-BUREAU-ALLOC-12",
            amount=500000,
            currency="CNY",
            booking_date=date(2026, 12, 14),
            status="BOOK",
            aside="no_return_information",
        ),
        BankEntry(
            seq=6,
            kind="credited",
            end_to_end_id=FROZEN,
            amount=208000,
            currency="CNY",
            booking_date=date(2026, 12, 15),
            status="BOOK",
            aside="no_return_information",
        ),
    ]


CAMT_V08 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
 <BkToCstmrDbtCdtNtfctn>
  <GrpHdr><MsgId>CCB-N-20261210</MsgId><CreDtTm>2026-12-10T18:00:00+08:00</CreDtTm></GrpHdr>
  <Ntfctn>
   <Id>N8</Id>
   <Acct><Id><Othr><Id>33050161000000012345</Id></Othr></Id></Acct>
   <Ntry>
    <NtryRef>CCB-B-77</NtryRef>
    <Amt Ccy="CNY">1470.50</Amt>
    <CdtDbtInd>DBIT</CdtDbtInd>
    <Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><DtTm>2026-12-10T23:59:59+08:00</DtTm></BookgDt>
    <ValDt><Dt>2026-12-10</Dt></ValDt>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls>
     <Btch><PmtInfId>R202612-dibao-001</PmtInfId><NbOfTxs>3</NbOfTxs></Btch>
     <TxDtls>
      <Refs><PmtInfId>R202612-dibao-001</PmtInfId><EndToEndId>{PAID}</EndToEndId></Refs>
      <Amt Ccy="CNY">1180.50</Amt>
      <CdtDbtInd>DBIT</CdtDbtInd>
      <RltdPties>
       <Cdtr><Pty><Nm>王秀兰</Nm></Pty></Cdtr>
       <CdtrAcct><Id><IBAN>CN12ICBK0000000000000001</IBAN></Id></CdtrAcct>
      </RltdPties>
     </TxDtls>
     <TxDtls>
      <Refs><AcctSvcrRef>CCB-TX-2</AcctSvcrRef><EndToEndId>{WRONG_NAME}</EndToEndId></Refs>
      <Amt Ccy="CNY">200.00</Amt>
      <RltdPties><Cdtr><Pty><Nm>李德明</Nm></Pty></Cdtr></RltdPties>
     </TxDtls>
     <TxDtls>
      <Refs><EndToEndId>{NO_ACCOUNT}</EndToEndId></Refs>
      <Amt Ccy="CNY">90.00000</Amt>
     </TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="CNY">90.50</Amt>
    <CdtDbtInd>CRDT</CdtDbtInd>
    <RvslInd>true</RvslInd>
    <Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2026-12-14</Dt></BookgDt>
    <AcctSvcrRef>CCB-R-3</AcctSvcrRef>
    <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>RRTN</SubFmlyCd></Fmly></Domn></BkTxCd>
    <NtryDtls>
     <TxDtls>
      <Refs><EndToEndId>{CLOSED}</EndToEndId></Refs>
      <Amt Ccy="CNY">90.50</Amt>
      <RtrInf>
       <Rsn><Cd>AC04</Cd></Rsn>
       <AddtlInf>账户已销户</AddtlInf>
       <AddtlInf>请核实后重新发放</AddtlInf>
      </RtrInf>
     </TxDtls>
    </NtryDtls>
   </Ntry>
  </Ntfctn>
 </BkToCstmrDbtCdtNtfctn>
</Document>
"""


def test_camt054_v08_batch_debit_and_return_with_its_wrappers() -> None:
    common = {"currency": "CNY", "status": "BOOK"}
    debit = {**common, "booking_date": date(2026, 12, 10), "value_date": date(2026, 12, 10)}
    assert list(camt054.parse(CAMT_V08.encode())) == [
        BankEntry(
            seq=1,
            kind="executed",
            end_to_end_id=PAID,
            amount=118050,
            creditor_name="王秀兰",  # Cdtr/Pty/Nm
            creditor_account="CN12ICBK0000000000000001",  # IBAN
            entry_ref="CCB-B-77/1",
            **debit,  # type: ignore[arg-type]
        ),
        BankEntry(
            seq=2,
            kind="executed",
            end_to_end_id=WRONG_NAME,
            amount=20000,
            creditor_name="李德明",
            entry_ref="CCB-B-77/2",
            **debit,  # type: ignore[arg-type]
        ),
        BankEntry(
            seq=3,
            kind="executed",
            end_to_end_id=NO_ACCOUNT,
            amount=9000,  # "90.00000": ISO allows five decimals; zeros past the fen drop
            entry_ref="CCB-B-77/3",
            **debit,  # type: ignore[arg-type]
        ),
        BankEntry(
            seq=4,
            kind="returned",
            end_to_end_id=CLOSED,
            amount=9050,
            booking_date=date(2026, 12, 14),
            reason_code="AC04",
            reason_text="账户已销户 请核实后重新发放",  # every AddtlInf line
            entry_ref="CCB-R-3",
            **common,  # type: ignore[arg-type]
        ),
    ]


def test_camt054_batch_with_one_transaction_takes_the_entry_amount_and_no_suffix() -> None:
    data = re.sub(
        r"<TxDtls>\s*<Refs><AcctSvcrRef>CCB-TX-2.*?</TxDtls>\s*<TxDtls>.*?</TxDtls>",
        "",
        CAMT_V08,
        count=1,
        flags=re.S,
    )
    data = data.replace('<Amt Ccy="CNY">1180.50</Amt>', "")
    first = next(camt054.parse(data.encode()))
    assert (first.amount, first.entry_ref) == (147050, "CCB-B-77")


def test_a_debit_without_details_is_still_reported() -> None:
    data = re.sub(r"<NtryDtls>.*?</NtryDtls>", "", CAMT_V08, count=1, flags=re.S)
    first = next(camt054.parse(data.encode()))
    assert (first.kind, first.end_to_end_id, first.amount, first.entry_ref) == (
        "executed",
        None,
        147050,
        "CCB-B-77",
    )


# Unknown to the ledger: payments no one made.
UNDATED_UNKNOWN = "202612R1UNDATEDUNKNOWNUNDATE"
PENDING_UNKNOWN = "202612R1PENDINGUNKNOWNPENDIN"


def test_camt054_v08_says_what_each_entry_means() -> None:
    """Booked or not, which currency, which day, and whether a credit is a return."""
    found = list(camt054.parse((BANK / "camt054_v08_what_entries_mean.xml").read_bytes()))
    assert [
        (e.kind, e.end_to_end_id, e.amount, e.currency, e.booking_date, e.status, e.aside)
        for e in found
    ] == [
        ("executed", PAID, 118050, "CNY", date(2026, 12, 10), "BOOK", None),
        # Read as the file says; whether USD is the payment's currency is the importer's call.
        ("executed", WRONG_NAME, 20000, "USD", date(2026, 12, 10), "BOOK", None),
        ("executed", NO_ACCOUNT, 9000, "CNY", date(2026, 12, 15), "PDNG", "not_booked"),
        ("executed", CLOSED, 9050, "CNY", date(2026, 12, 10), "INFO", "not_booked"),
        # No BookgDt: the value date; neither: the day the file was created (GrpHdr/CreDtTm).
        ("executed", ARREARS, 138050, "CNY", date(2026, 12, 11), "BOOK", None),
        ("executed", UNDATED_UNKNOWN, 30000, "CNY", date(2026, 12, 12), "BOOK", None),
        ("credited", FROZEN, 208000, "CNY", date(2026, 12, 14), "BOOK", "no_return_information"),
        ("returned", PAID, 118050, "CNY", date(2026, 12, 14), "BOOK", None),  # RvslInd true
    ]
    assert found[4].value_date == date(2026, 12, 11) and found[5].value_date is None
    assert (found[7].reason_code, found[7].reason_text) == (None, None)  # none given


def test_camt054_v02_says_what_each_entry_means() -> None:
    """A plain-text Sts PDNG; no Sts element at all (booked); USD booked inside a CNY entry;
    a return without dates; a return coded RRTN without return information."""
    found = list(camt054.parse((BANK / "camt054_v02_what_entries_mean.xml").read_bytes()))
    created = date(2027, 1, 3)
    assert [
        (e.kind, e.end_to_end_id, e.amount, e.currency, e.booking_date, e.status, e.aside)
        for e in found
    ] == [
        ("executed", PAID, 156000, "CNY", date(2026, 12, 16), "PDNG", "not_booked"),
        ("executed", WRONG_NAME, 118050, "CNY", date(2026, 12, 10), None, None),
        ("executed", ARREARS, 138050, "USD", date(2026, 12, 10), "BOOK", None),  # TxAmt's
        ("returned", CLOSED, 9050, "CNY", created, "BOOK", None),
        ("executed", PENDING_UNKNOWN, 30000, "CNY", created, "PDNG", "not_booked"),
        ("returned", FROZEN, 208000, "CNY", date(2026, 12, 18), "BOOK", None),  # RRTN
    ]
    assert found[3].reason_code == "AC04"


@pytest.mark.parametrize(
    ("entry", "kind", "aside"),
    [
        ("<RvslInd>true</RvslInd>", "returned", None),
        ("<RvslInd>1</RvslInd>", "returned", None),  # xs:boolean
        ("<RvslInd>false</RvslInd>", "credited", "no_return_information"),
        ("", "credited", "no_return_information"),
        ("<RvslInd>true</RvslInd><Sts>PDNG</Sts>", "returned", "not_booked"),
    ],
)
def test_a_credit_without_details_is_a_return_only_if_the_entry_says_so(
    entry: str, kind: str, aside: str | None
) -> None:
    ntry = (
        f'<Ntry><Amt Ccy="CNY">9.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{entry}'
        "<BookgDt><Dt>2026-12-14</Dt></BookgDt></Ntry>"
    )
    data = re.sub(r"<Ntry>.*</Ntry>", ntry, CAMT_V08, flags=re.S)
    ((found_kind, found_aside),) = [(e.kind, e.aside) for e in camt054.parse(data.encode())]
    assert (found_kind, found_aside) == (kind, aside)


def test_a_malformed_file_creation_day_refuses_the_file() -> None:
    data = CAMT_V08.replace("<CreDtTm>2026-12-10T18", "<CreDtTm>2026-13-10T18")
    with pytest.raises(BankFileRefused, match=r"line 4, GrpHdr/CreDtTm: malformed date"):
        list(camt054.parse(data.encode()))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("1180.50", "1180.505"), r"line 18, entry 1, transaction 1: malformed amount '1180.505'"),
        (("1180.50", "-1180.50"), r"malformed amount '-1180.50'"),
        (("1180.50", "1,180.50"), r"malformed amount '1,180.50'"),
        (("<Dt>2026-12-14</Dt>", "<Dt>2026-12-32</Dt>"), r"entry 2: malformed date '2026-12-32'"),
        (("<CdtDbtInd>CRDT</CdtDbtInd>", ""), r"entry 2: CdtDbtInd must be DBIT or CRDT, not ''"),
        (("</Document>", ""), r"malformed XML"),
        (("camt.054.001.08", "camt.053.001.08"), r"not a camt\.054 document.*camt\.053"),
        (("<BkToCstmrDbtCdtNtfctn>", "<BkToCstmrStmt>"), r"first element is 'BkToCstmrStmt'"),
        (("<Nm>李德明</Nm>", "<Nm>李\ufdd0德明</Nm>"), r"U\+FDD0"),
        (
            ('<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE Document [<!ENTITY a "x">]>'),
            r"DOCTYPE",
        ),
    ],
)
def test_a_camt054_that_cannot_be_read_is_refused_saying_where(
    change: tuple[str, str], reason: str
) -> None:
    broken = CAMT_V08.replace(*change)
    if "BkToCstmrStmt" in change[1]:
        broken = broken.replace("</BkToCstmrDbtCdtNtfctn>", "</BkToCstmrStmt>")
    with pytest.raises(BankFileRefused, match=reason):
        list(camt054.parse(broken.encode()))


# ---------------------------------------------------------------------------------------
# Hand-made pain.002, 001.03 and 001.10
# ---------------------------------------------------------------------------------------

PAIN002_V03 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>ICBC-PSR-1</MsgId><CreDtTm>2026-12-09T16:20:00+08:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts>
   <OrgnlMsgId>R202612-all-1</OrgnlMsgId>
   <OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>
   <GrpSts>PART</GrpSts>
  </OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts>
   <OrgnlPmtInfId>R202612-all-1-001</OrgnlPmtInfId>
   <PmtInfSts>PART</PmtInfSts>
   <TxInfAndSts>
    <StsId>S-1</StsId>
    <OrgnlEndToEndId>{PAID}</OrgnlEndToEndId>
    <TxSts>ACSC</TxSts>
    <OrgnlTxRef>
     <Amt><InstdAmt Ccy="CNY">1560.00</InstdAmt></Amt>
     <Cdtr><Nm>王秀兰</Nm></Cdtr>
     <CdtrAcct><Id><Othr><Id>6222021001011234567</Id></Othr></Id></CdtrAcct>
    </OrgnlTxRef>
   </TxInfAndSts>
   <TxInfAndSts>
    <StsId>S-2</StsId>
    <OrgnlEndToEndId>{CLOSED}</OrgnlEndToEndId>
    <TxSts>RJCT</TxSts>
    <StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>账户已销户</AddtlInf></StsRsnInf>
    <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">90.50</InstdAmt></Amt></OrgnlTxRef>
   </TxInfAndSts>
  </OrgnlPmtInfAndSts>
  <OrgnlPmtInfAndSts>
   <OrgnlPmtInfId>R202612-all-1-002</OrgnlPmtInfId>
   <PmtInfSts>RJCT</PmtInfSts>
   <StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>
   <TxInfAndSts><OrgnlEndToEndId>{ARREARS}</OrgnlEndToEndId></TxInfAndSts>
  </OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>
"""


def test_pain002_v03_group_block_and_transaction_statuses() -> None:
    day = date(2026, 12, 9)
    assert list(pain002.parse(PAIN002_V03.encode())) == [
        GroupStatus(1, "message", "R202612-all-1", None, "PART", None, None),
        GroupStatus(2, "payment_information", "R202612-all-1", "R202612-all-1-001", "PART"),
        BankEntry(
            seq=3,
            kind="accepted",
            end_to_end_id=PAID,
            amount=156000,
            currency="CNY",
            booking_date=day,
            creditor_name="王秀兰",
            creditor_account="6222021001011234567",
            entry_ref="S-1",
            status="ACSC",
        ),
        BankEntry(
            seq=4,
            kind="rejected",
            end_to_end_id=CLOSED,
            amount=9050,
            currency="CNY",
            booking_date=day,
            reason_code="AC04",
            reason_text="账户已销户",
            entry_ref="S-2",
            status="RJCT",
        ),
        GroupStatus(
            5,
            "payment_information",
            "R202612-all-1",
            "R202612-all-1-002",
            "RJCT",
            "AM04",
            "insufficient funds",
        ),
        # No TxSts of its own: the block's RJCT applies.
        BankEntry(seq=6, kind="rejected", end_to_end_id=ARREARS, booking_date=day, status="RJCT"),
    ]


PAIN002_V10 = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
 <CstmrPmtStsRpt>
  <GrpHdr><MsgId>CCB-PSR-9</MsgId><CreDtTm>2026-12-09T09:00:00</CreDtTm></GrpHdr>
  <OrgnlGrpInfAndSts>
   <OrgnlMsgId>R202612-all-2</OrgnlMsgId>
   <OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>
  </OrgnlGrpInfAndSts>
  <OrgnlPmtInfAndSts>
   <OrgnlPmtInfId>R202612-all-2-001</OrgnlPmtInfId>
   <TxInfAndSts>
    <OrgnlEndToEndId>{WRONG_NAME}</OrgnlEndToEndId>
    <OrgnlUETR>8a562c67-ca16-48ba-b074-65581be6f011</OrgnlUETR>
    <TxSts>RJCT</TxSts>
    <StsRsnInf><Rsn><Cd>BE01</Cd></Rsn></StsRsnInf>
    <AcctSvcrRef>CCB-TX-1</AcctSvcrRef>
    <OrgnlTxRef>
     <Amt><InstdAmt Ccy="CNY">1180.50</InstdAmt></Amt>
     <Cdtr><Pty><Nm>李德明</Nm></Pty></Cdtr>
    </OrgnlTxRef>
   </TxInfAndSts>
   <TxInfAndSts>
    <OrgnlEndToEndId>{FROZEN}</OrgnlEndToEndId>
    <TxSts>ACSP</TxSts>
   </TxInfAndSts>
  </OrgnlPmtInfAndSts>
 </CstmrPmtStsRpt>
</Document>
"""


def test_pain002_v10_rejected_and_accepted() -> None:
    assert list(pain002.parse(PAIN002_V10.encode())) == [
        BankEntry(
            seq=1,
            kind="rejected",
            end_to_end_id=WRONG_NAME,
            amount=118050,
            currency="CNY",
            booking_date=date(2026, 12, 9),
            creditor_name="李德明",  # Cdtr/Pty/Nm in 001.10
            reason_code="BE01",
            reason_text="inconsistent with end customer (name does not match, 户名不符)",
            entry_ref="CCB-TX-1",
            status="RJCT",
        ),
        BankEntry(
            seq=2,
            kind="accepted",
            end_to_end_id=FROZEN,
            booking_date=date(2026, 12, 9),
            status="ACSP",
        ),
    ]


def test_pain002_malformed_is_refused() -> None:
    with pytest.raises(BankFileRefused, match="malformed XML"):
        list(pain002.parse(PAIN002_V10.encode()[:700]))
    with pytest.raises(BankFileRefused, match=r"not a pain\.002 document"):
        list(pain002.parse(CAMT_V02.encode()))
    bad = PAIN002_V03.replace("90.50</InstdAmt>", "ninety</InstdAmt>")
    with pytest.raises(BankFileRefused, match=r"line 23, OrgnlTxRef/Amt/InstdAmt: malformed"):
        list(pain002.parse(bad.encode()))


def test_our_simulated_bank_round_trips_every_field() -> None:
    paid = [
        Instructed(PAID, "1560.00", "王秀兰", "6228480000000000011", date(2026, 6, 10), "R1"),
        Instructed(CLOSED, "90.50", "张伟", "6228480000000000014", date(2026, 6, 20), "R1"),
    ]
    found = list(camt054.parse(sim_camt054(paid, Anomalies(returned={CLOSED: "AC04"}))))
    assert [(e.kind, e.end_to_end_id, e.amount, e.creditor_name, e.reason_code) for e in found] == [
        ("executed", PAID, 156000, "王秀兰", None),
        ("executed", CLOSED, 9050, "张伟", None),
        ("returned", CLOSED, 9050, "张伟", "AC04"),
    ]
    assert found[2].booking_date == date(2026, 6, 22)
    answered = sim_pain002(paid, Anomalies(rejected={PAID: "AC06"}))
    status = only_entries(list(pain002.parse(answered)))
    assert [(e.end_to_end_id, e.kind, e.reason_code) for e in status] == [
        (PAID, "rejected", "AC06"),
        (CLOSED, "accepted", None),
    ]


# ---------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------


def test_detect_kind_reads_the_content() -> None:
    assert detect_kind(CAMT_V02.encode()) == "camt054"
    assert detect_kind(b"\xef\xbb\xbf" + CAMT_V08.encode()) == "camt054"
    assert detect_kind(PAIN002_V10.encode()) == "pain002"
    assert detect_kind((BANK / "ccb.txt").read_bytes()) == "csv"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b" \r\n\r\n", "empty file"),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"%PDF-1.7", "PDF"),
        ("序号|付款编号\x00".encode("gbk"), "NUL bytes"),
        (b"\xff\xff\xff|\xfe\xfe", "neither UTF-8 nor GB18030"),
        (b'<?xml version="1.0"?><Document xmlns="urn:x" <a/>', "malformed XML"),
        (b"<Document/>", "no namespace"),
    ],
)
def test_detect_kind_refuses_what_is_no_bank_file(data: bytes, reason: str, tmp_path: Path) -> None:
    with pytest.raises(BankFileRefused, match=reason):
        detect_kind(data)
    (tmp_path / "file").write_bytes(data)
    with pytest.raises(BankFileRefused, match=reason):
        detect_kind(tmp_path / "file")


def test_a_file_on_disk_reads_as_its_bytes(tmp_path: Path) -> None:
    """The importer hands the parsers the file's path: libxml2 reads it in chunks."""
    for name, text in (("v02", CAMT_V02), ("v08", CAMT_V08), ("p03", PAIN002_V03)):
        path = tmp_path / f"{name}.xml"
        path.write_text(text, encoding="utf-8")
        assert detect_kind(path) == detect_kind(text.encode())
        parse = camt054.parse if detect_kind(path) == "camt054" else pain002.parse
        assert list(parse(path)) == list(parse(text.encode()))
    path = tmp_path / "broken.xml"
    path.write_text(CAMT_V08.replace("<CdtDbtInd>DBIT", "<CdtDbtInd>DEBIT", 1), encoding="utf-8")
    with pytest.raises(BankFileRefused) as refused:
        list(camt054.parse(path))
    assert refused.value.line > 1
    assert refused.value.reason.startswith("entry 1: CdtDbtInd must be DBIT or CRDT")


# ---------------------------------------------------------------------------------------
# CSV 回盘 through bank profiles
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["icbc", "ccb", "abc"])
def test_each_bank_profile_reads_its_fixture(profile: str) -> None:
    found = list(
        csvreturn.parse((BANK / f"{profile}.txt").read_bytes(), csvreturn.load_profile(profile))
    )
    assert [(e.end_to_end_id, e.kind, e.amount, e.reason_code) for e in found] == [
        (PAID, "executed", 156000, None),
        (WRONG_NAME, "rejected", 118050, "BE01"),
        (NO_ACCOUNT, "rejected", 20000, "AC01"),
        (CLOSED, "rejected", 9050, "AC04"),
        (FROZEN, "rejected", 208000, "AC06"),
        (ARREARS, "executed", 36000, None),
    ]
    assert [e.seq for e in found] == [1, 2, 3, 4, 5, 6]
    assert [e.booking_date for e in found] == [date(2026, 12, 10)] * 4 + [
        date(2026, 12, 11),
        date(2026, 12, 10),
    ]
    assert (found[0].creditor_name, found[0].creditor_account) == ("王秀兰", "6222021001011234567")
    assert {e.currency for e in found} == {"CNY"}
    assert found[0].reason_text is None


def test_profiles_keep_each_banks_own_words() -> None:
    icbc = list(csvreturn.parse((BANK / "icbc.txt").read_bytes(), csvreturn.load_profile("icbc")))
    ccb = list(csvreturn.parse((BANK / "ccb.txt").read_bytes(), csvreturn.load_profile("ccb")))
    abc = list(csvreturn.parse((BANK / "abc.txt").read_bytes(), csvreturn.load_profile("abc")))
    assert [e.status for e in abc] == [
        "入账成功",
        "入账失败",
        "入账失败",
        "退回",
        "入账失败",
        "入账成功",
    ]
    assert abc[1].reason_text == "户名不一致"  # the bank's words, with the code beside them
    assert ccb[4].reason_text == "账户冻结(司法冻结)"
    assert ccb[0].reason_text is None  # 交易成功 on a success row is no reason
    # ICBC names its serial number; elsewhere the reference is where the row is.
    assert [e.entry_ref for e in icbc[:2]] == ["ICBC20261210000001", "ICBC20261210000002"]
    assert [e.entry_ref for e in ccb[:2]] == ["ccb:1", "ccb:2"]
    assert len(abc) == 6  # the 合计 line is not a payment


def test_profiles_with_a_header_are_detected_and_headerless_ones_need_naming() -> None:
    icbc = csvreturn.detect_profile((BANK / "icbc.txt").read_bytes())
    abc = csvreturn.detect_profile((BANK / "abc.txt").read_bytes())
    assert icbc is not None and icbc.name == "icbc"
    assert abc is not None and abc.name == "abc"
    assert csvreturn.detect_profile((BANK / "ccb.txt").read_bytes()) is None
    assert set(csvreturn.list_profiles()) >= {"icbc", "ccb", "abc"}


def test_bad_csv_rows_refuse_the_file_naming_every_line() -> None:
    lines = (BANK / "icbc.txt").read_bytes().decode("gb18030").split("\r\n")
    lines[2] = lines[2].replace("1180.50", "1180.5O")  # letter O
    lines[3] = lines[3].replace("|失败|", "|处理中|")
    lines[5] = lines[5].replace("20261211", "2026-12-11")
    lines[6] = "7|" + ARREARS
    with pytest.raises(BankFileRefused) as refused:
        list(csvreturn.parse("\r\n".join(lines).encode("gb18030"), csvreturn.load_profile("icbc")))
    message = str(refused.value)
    assert message.startswith("4 bad row(s) in a 中国工商银行 (icbc) file")
    assert "line 3: malformed amount '1180.5O'" in message
    assert "line 4: unknown status '处理中' (expected one of 成功 / 失败)" in message
    assert "line 6: date '2026-12-11' does not match %Y%m%d" in message
    assert "line 7: 2 fields, so no " in message


def test_a_status_containing_a_success_word_is_not_success() -> None:
    data = (BANK / "icbc.txt").read_bytes().decode("gb18030").replace("|成功|", "|不成功|", 1)
    with pytest.raises(BankFileRefused, match="line 2: unknown status '不成功'"):
        list(csvreturn.parse(data.encode("gb18030"), csvreturn.load_profile("icbc")))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("|156000|", "|1560.00|"), "line 1: malformed amount in fen '1560.00'"),
        (("|156000|", "|１５６０００|"), "line 1: malformed amount in fen"),  # full-width digits
        (("处理成功|交易成功|2026-12-10", "处理成功||2026-12-10"), None),  # no reason is fine
        (("|156000|", "||"), "line 1: a successful row without an amount"),
    ],
)
def test_ccb_amounts_in_fen_are_digits_only(change: tuple[str, str], reason: str | None) -> None:
    data = (BANK / "ccb.txt").read_bytes().decode("gb18030").replace(*change, 1).encode("gb18030")
    if reason is None:
        assert len(list(csvreturn.parse(data, csvreturn.load_profile("ccb")))) == 6
        return
    with pytest.raises(BankFileRefused, match=re.escape(reason)):
        list(csvreturn.parse(data, csvreturn.load_profile("ccb")))


def test_a_file_in_another_layout_is_refused_at_its_header() -> None:
    with pytest.raises(BankFileRefused, match="line 1: the header has no column '付款编号'"):
        list(csvreturn.parse((BANK / "abc.txt").read_bytes(), csvreturn.load_profile("icbc")))
    with pytest.raises(BankFileRefused, match="not gb18030 text"):
        list(csvreturn.parse("付款编号".encode("utf-16"), csvreturn.load_profile("icbc")))


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        (
            'has_header = false\n[columns]\nend_to_end_id = "付款编号"\namount = 1\nstatus = 2',
            "positions",
        ),
        ("[columns]\nend_to_end_id = 0\nstatus = 2", "amount"),
        (
            '[columns]\nend_to_end_id = 0\namount = 1\nstatus = 2\n[reason_words]\n"冻" = "frozen"',
            "ISO",
        ),
        ('encoding = "gbk2"\n[columns]\nend_to_end_id = 0\namount = 1\nstatus = 2', "gbk2"),
        ('encoding = "utf-16"\n[columns]\nend_to_end_id = 0\namount = 1\nstatus = 2', "ASCII"),
        (
            '[columns]\nend_to_end_id = 0\namount = 1\nstatus = 2\n[currency_words]\n"美元" = "$"',
            "ISO 4217",
        ),
    ],
)
def test_a_profile_that_cannot_work_is_refused(tmp_path: Path, toml: str, reason: str) -> None:
    path = tmp_path / "bank.toml"
    words = 'bank = "测试银行"\nsuccess_words = ["成功"]\nfailure_words = ["失败"]\n'
    path.write_text(words + toml, encoding="utf-8")
    with pytest.raises(BankFileRefused, match=reason):
        csvreturn.load_profile(str(path))


CURRENCY_PROFILE = """bank = "测试银行"
encoding = "utf-8"
success_words = ["成功"]
failure_words = ["失败"]
[columns]
end_to_end_id = "付款编号"
amount = "金额"
status = "状态"
currency = "币种"
date = "日期"
[currency_words]
"美元" = "USD"
"""


def test_a_profile_naming_a_currency_column_reads_each_rows_currency(tmp_path: Path) -> None:
    """ISO codes as they are, the profile's words and 人民币/RMB as their codes, an empty cell
    as CNY (代发 is domestic); a word no one named refuses the file at its line."""
    (tmp_path / "bank.toml").write_text(CURRENCY_PROFILE, encoding="utf-8")
    profile = csvreturn.load_profile(str(tmp_path / "bank.toml"))
    cells = ["人民币", "CNY", "RMB", "USD", "美元", ""]
    rows = [f"{PAID}|100.00|成功|{c}|20261210" for c in cells]
    data = "\n".join(["付款编号|金额|状态|币种|日期", *rows]).encode()
    found = [e.currency for e in csvreturn.parse(data, profile)]
    assert found == ["CNY", "CNY", "CNY", "USD", "USD", "CNY"]
    bad = data + f"\n{PAID}|100.00|成功|US$|20261210".encode()
    with pytest.raises(BankFileRefused, match=r"line 8: unknown currency 'US\$'"):
        list(csvreturn.parse(bad, profile))


def test_a_return_row_without_a_date_has_no_booking_day() -> None:
    """Not today's: the importer decides the month it is shown in, and it is no execution day."""
    data = (BANK / "icbc.txt").read_bytes().replace(b"|20261211|", b"||")
    (undated,) = [
        e
        for e in csvreturn.parse(data, csvreturn.load_profile("icbc"))
        if e.end_to_end_id == FROZEN
    ]
    assert undated.booking_date is None


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 2**20])
@pytest.mark.parametrize("profile", ["icbc", "ccb", "abc"])
def test_a_return_file_read_from_disk_a_chunk_at_a_time_reads_as_its_bytes(
    monkeypatch: pytest.MonkeyPatch, profile: str, chunk: int
) -> None:
    """Characters of two bytes and CR LF line ends cut between chunks are read whole."""
    monkeypatch.setattr(csvreturn, "CHUNK_BYTES", chunk)
    path = BANK / f"{profile}.txt"
    chosen = csvreturn.load_profile(profile)
    assert list(csvreturn.parse(path, chosen)) == list(csvreturn.parse(path.read_bytes(), chosen))
    assert csvreturn.detect_profile(path) == csvreturn.detect_profile(path.read_bytes())


@pytest.mark.parametrize("chunk", [1, 4, 2**20])
@pytest.mark.parametrize("where", ["in a name", "a character cut off at the end"])
def test_a_return_file_not_in_its_encoding_is_refused_at_the_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, where: str
) -> None:
    monkeypatch.setattr(csvreturn, "CHUNK_BYTES", chunk)
    good = (BANK / "icbc.txt").read_bytes()
    if where == "in a name":
        at = good.index("李德明".encode("gb18030"))
        bad, line = good[:at] + b"\xff" + good[at + 1 :], 3
    else:
        at, bad, line = len(good), good + "张".encode("gb18030")[:1], good.count(b"\n") + 1
    path = tmp_path / "bad.txt"
    path.write_bytes(bad)
    for source in (path, bad):
        with pytest.raises(BankFileRefused) as refused:
            list(csvreturn.parse(source, csvreturn.load_profile("icbc")))
        assert refused.value.line == line
        assert refused.value.reason == (
            f"not gb18030 text (byte {at}); is this a 中国工商银行 file?"
        )


@pytest.mark.parametrize("chunk", [1, 4, 2**20])
def test_a_utf8_return_file_with_a_signature_is_read_and_refused_where_its_bytes_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """The signature's three bytes count in a refusal's offset (its own decoder hides them)."""
    monkeypatch.setattr(csvreturn, "CHUNK_BYTES", chunk)
    toml = (csvreturn.PROFILES / "icbc.toml").read_text(encoding="utf-8")
    profile_path = tmp_path / "icbc-utf8.toml"
    profile_path.write_text(toml.replace('encoding = "gb18030"', 'encoding = "utf-8-sig"'), "utf-8")
    profile = csvreturn.load_profile(str(profile_path))
    good = codecs.BOM_UTF8 + (BANK / "icbc.txt").read_bytes().decode("gb18030").encode("utf-8")
    path = tmp_path / "good.txt"
    path.write_bytes(good)
    icbc = csvreturn.load_profile("icbc")
    assert list(csvreturn.parse(path, profile)) == list(csvreturn.parse(BANK / "icbc.txt", icbc))
    at = good.index("李德明".encode())
    path.write_bytes(good[:at] + b"\xff" + good[at + 1 :])
    with pytest.raises(BankFileRefused) as refused:
        list(csvreturn.parse(path, profile))
    assert (refused.value.line, refused.value.reason) == (
        3,
        f"not utf-8-sig text (byte {at}); is this a 中国工商银行 file?",
    )


def test_a_return_file_without_line_feeds_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines end at line feeds only: a file of CR line ends is one line, refused at its header."""
    monkeypatch.setattr(csvreturn, "CHUNK_BYTES", 5)
    path = tmp_path / "cr.txt"
    path.write_bytes((BANK / "icbc.txt").read_bytes().replace(b"\r\n", b"\r"))
    with pytest.raises(BankFileRefused, match="line 1: the header has no column '银行流水号'"):
        list(csvreturn.parse(path, csvreturn.load_profile("icbc")))


@pytest.mark.slow
def test_a_100k_row_return_file_is_read_in_flat_memory(tmp_path: Path) -> None:
    header, row = (BANK / "icbc.txt").read_bytes().decode("gb18030").split("\r\n")[:2]
    path = tmp_path / "big.txt"
    with path.open("wb") as f:
        f.write(f"{header}\r\n".encode("gb18030"))
        for i in range(100_000):
            f.write(f"{row.replace(PAID, f'202612R1{i:020d}')}\r\n".encode("gb18030"))
    count = fen = 0
    last = None
    tracemalloc.start()
    try:
        for entry in csvreturn.parse(path, csvreturn.load_profile("icbc")):
            count, fen, last = count + 1, fen + (entry.amount or 0), entry
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000 and fen == 100_000 * 156000
    assert last is not None and last.end_to_end_id == f"202612R1{count - 1:020d}"
    # The file is 10 MB; read whole, its bytes, text and lines would hold over 50 MB at once.
    assert path.stat().st_size > 9 * 2**20
    assert peak < 16 * 2**20, f"Python peak {peak / 2**20:.1f} MiB"


# ---------------------------------------------------------------------------------------
# Scale: 200,000 transactions in flat memory
# ---------------------------------------------------------------------------------------

_HEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>BIG</MsgId><CreDtTm>2026-12-10T18:00:00</CreDtTm></GrpHdr>
<Ntfctn><Id>N1</Id><Acct><Id><Othr><Id>1202020109000012345</Id></Othr></Id></Acct>
"""


def _tx(i: int) -> str:
    return (
        f"<TxDtls><Refs><EndToEndId>202612R1{i:020d}</EndToEndId></Refs>"
        f'<AmtDtls><TxAmt><Amt Ccy="CNY">{100 + i % 900}.{i % 100:02d}</Amt></TxAmt></AmtDtls>'
        f"<RltdPties><Cdtr><Nm>王秀兰</Nm></Cdtr>"
        f"<CdtrAcct><Id><Othr><Id>62220210{i:011d}</Id></Othr></Id></CdtrAcct></RltdPties>"
        f"</TxDtls>"
    )


def _ntry(ref: str, amount: str, details: str) -> str:
    return (
        f'<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="CNY">{amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd>'
        f"<Sts>BOOK</Sts><BookgDt><Dt>2026-12-10</Dt></BookgDt><ValDt><Dt>2026-12-10</Dt></ValDt>"
        f"<NtryDtls>{details}</NtryDtls></Ntry>\n"
    )


def _write_big_camt054(path: Path, singles: int, batches: int, per_batch: int) -> int:
    """A month as a bank books it: `singles` one-transaction entries, then `batches` batch
    entries (one per payment block) of `per_batch` transactions each. Returns the total fen."""
    total = 0
    n = 0
    with path.open("wb") as f:
        f.write(_HEAD)
        for start in range(0, singles, 5000):
            chunk = range(start, min(singles, start + 5000))
            f.write("".join(_ntry(f"S{i}", "1.00", _tx(i)) for i in chunk).encode())
            total += sum((100 + i % 900) * 100 + i % 100 for i in chunk)
        n = singles
        for b in range(1, batches + 1):
            f.write(f'<Ntry><NtryRef>BATCH{b}</NtryRef><Amt Ccy="CNY">1.00</Amt>'.encode())
            f.write(b"<CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>")
            f.write(b"<BookgDt><Dt>2026-12-11</Dt></BookgDt><NtryDtls>\n")
            for start in range(n, n + per_batch, 5000):
                chunk = range(start, min(n + per_batch, start + 5000))
                f.write("\n".join(_tx(i) for i in chunk).encode())
                total += sum((100 + i % 900) * 100 + i % 100 for i in chunk)
            f.write(b"</NtryDtls></Ntry>\n")
            n += per_batch
        f.write(b"</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n")
    return total


def _rss() -> int | None:
    """Resident memory now, in bytes, where /proc says (libxml2's tree is invisible to
    tracemalloc, so a parser that forgot to drop elements would pass on tracemalloc alone)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@pytest.mark.slow
def test_200k_transactions_parse_in_flat_memory(tmp_path: Path) -> None:
    singles, batches, per_batch = 20_000, 4, 45_000
    path = tmp_path / "big.xml"
    total = _write_big_camt054(path, singles, batches, per_batch)
    data = path.read_bytes()
    start = time.perf_counter()
    rss_before = _rss()
    rss_growth = 0
    count = fen = 0
    first = last = None
    tracemalloc.start()
    try:
        for entry in camt054.parse(data):
            count += 1
            fen += entry.amount or 0
            first = first or entry
            last = entry
            if count % 20_000 == 0 and rss_before is not None:
                rss_growth = max(rss_growth, (_rss() or 0) - rss_before)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == singles + batches * per_batch == 200_000
    assert fen == total
    assert first is not None and last is not None
    assert (first.end_to_end_id, first.entry_ref) == (f"202612R1{0:020d}", "S0")
    assert (last.end_to_end_id, last.entry_ref) == (
        f"202612R1{count - 1:020d}",
        f"BATCH{batches}/{per_batch}",
    )
    assert last.booking_date == date(2026, 12, 11)
    # Kept entries would cost some 600 bytes each (120 MB here); the parser holds a handful.
    assert peak < 20 * 2**20, f"Python peak {peak / 2**20:.1f} MiB"
    assert rss_growth < 50 * 2**20, f"resident memory grew {rss_growth / 2**20:.0f} MiB"
    print(f"200k transactions in {time.perf_counter() - start:.1f}s (tracemalloc on)")


# ---------------------------------------------------------------------------------------
# Reading a big file in shares, in several processes
# ---------------------------------------------------------------------------------------


def _camt054_files(tmp_path: Path) -> list[Path]:
    """The camt.054 files we have: hand-made, public samples, and a month with batches."""
    texts = {"v02.xml": CAMT_V02.encode(), "v08.xml": CAMT_V08.encode()}
    texts.update((p.name, p.read_bytes()) for p in SAMPLES.glob("camt.054*.xml"))
    texts.update((p.name, p.read_bytes()) for p in BANK.glob("camt054_*.xml"))
    for name, data in texts.items():
        (tmp_path / name).write_bytes(data)
    _write_big_camt054(tmp_path / "month.xml", singles=301, batches=3, per_batch=50)
    return [tmp_path / name for name in sorted(texts)] + [tmp_path / "month.xml"]


@pytest.fixture(params=["parts", "shares"])
def reading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How several processes read a file: each a part of it (where the file can be cut at
    entries), or each a share of its transactions (where it cannot)."""
    if request.param == "shares":
        monkeypatch.setattr(camt054, "cut", lambda *_: None)
    return str(request.param)


def test_reading_in_shares_gives_what_one_process_reads(tmp_path: Path, reading: str) -> None:
    files = _camt054_files(tmp_path)
    one = [list(camt054.parse(path)) for path in files]
    assert sum(map(len, one)) > 450
    for processes in (2, 3):
        found = read_in_shares_of(files, processes)
        assert found == one


def read_in_shares_of(files: list[Path], processes: int) -> list[list[BankEntry]]:
    return [list(camt054.parse(path, processes=processes)) for path in files]


def _broken_month(tmp_path: Path, *changes: tuple[str, str, int]) -> Path:
    """The month with batches, each (old, new, n): the n-th occurrence of old replaced."""
    path = tmp_path / "month.xml"
    _write_big_camt054(path, singles=41, batches=2, per_batch=9)
    text = path.read_text(encoding="utf-8")
    for old, new, n in changes:
        at = -1
        for _ in range(n):
            at = text.index(old, at + 1)
        text = text[:at] + new + text[at + len(old) :]
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "changes",
    [
        # An entry's amount and a transaction's, in one share and then the other.
        [('<Amt Ccy="CNY">1', '<Amt Ccy="CNY">-1', 7)],
        [('<Amt Ccy="CNY">1', '<Amt Ccy="CNY">-1', 10)],
        # A batch entry's own field: both shares read it, at their first transaction of it.
        [("<CdtDbtInd>DBIT", "<CdtDbtInd>DEBIT", 42)],
        [("<CdtDbtInd>DBIT", "<CdtDbtInd>DEBIT", 43)],
        # Two: the first in the file is the refusal, whichever share found it.
        [
            ("<Dt>2026-12-10", "<Dt>2026-12-1x", 30),
            ('<TxAmt><Amt Ccy="CNY">', '<TxAmt><Amt Ccy="CNY">x', 5),
        ],
        [
            ("<Dt>2026-12-10", "<Dt>2026-12-1x", 5),
            ('<TxAmt><Amt Ccy="CNY">', '<TxAmt><Amt Ccy="CNY">x', 30),
        ],
        # Broken XML after a bad value, and broken XML alone.
        [
            ("<EndToEndId>", "<EndToEndId>&nope;", 40),
            ('<TxAmt><Amt Ccy="CNY">', '<TxAmt><Amt Ccy="CNY">x', 3),
        ],
        [("</Ntry>", "</Ntri>", 20)],
    ],
)
def test_reading_in_shares_refuses_as_one_process_does(
    tmp_path: Path, changes: list[tuple[str, str, int]], reading: str
) -> None:
    path = _broken_month(tmp_path, *changes)
    with pytest.raises(BankFileRefused) as one:
        list(camt054.parse(path))
    with pytest.raises(BankFileRefused) as shared:
        list(camt054.parse(path, processes=2))
    assert str(shared.value) == str(one.value)


def test_reading_in_shares_survives_a_helper_that_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reading: str
) -> None:
    path = _camt054_files(tmp_path)[-1]
    monkeypatch.setattr(
        xmlstream,
        "helper_command",
        lambda *_: [sys.executable, "-c", "import sys; sys.exit('no helper today')"],
    )
    assert list(camt054.parse(path, processes=2)) == list(camt054.parse(path))


def test_a_month_is_cut_at_entries_into_parts_that_parse_alone(tmp_path: Path) -> None:
    path = _camt054_files(tmp_path)[-1]
    data = path.read_bytes()
    parts = xmlstream.cut(path, "Ntry", "Ntfctn", 3)
    assert parts is not None
    # The parts cover the file once, each after the first from an entry's start tag.
    assert [(p.start, p.end) for p in parts] == [
        (0, parts[1].start),
        (parts[1].start, parts[2].start),
        (parts[2].start, len(data)),
    ]
    assert [data[p.start : p.start + 6] for p in parts[1:]] == [b"<Ntry>", b"<Ntry>"]
    assert [p.head for p in parts] == [0, data.index(b"<Ntry>"), data.index(b"<Ntry>")]
    assert [p.closers for p in parts] == [b"</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"] * 2 + [
        b""
    ]
    found = xmlstream.read_in_parts(camt054.rows, parts)
    assert found is not None
    assert [BankEntry(i, *row) for i, row in enumerate(found, 1)] == list(camt054.parse(path))


def test_a_file_whose_entries_may_sit_in_two_notifications_or_one_batch_is_not_cut(
    tmp_path: Path,
) -> None:
    month = _camt054_files(tmp_path)[-1]
    two = tmp_path / "two.xml"
    two.write_bytes(month.read_bytes().replace(b"</Ntfctn>", b"</Ntfctn><Ntfctn></Ntfctn>"))
    batch = tmp_path / "batch.xml"
    _write_big_camt054(batch, singles=0, batches=1, per_batch=300)
    assert xmlstream.cut(month, "Ntry", "Ntfctn", 2) is not None
    assert xmlstream.cut(two, "Ntry", "Ntfctn", 2) is None
    assert xmlstream.cut(batch, "Ntry", "Ntfctn", 2) is None
    assert list(camt054.parse(batch, processes=2)) == list(camt054.parse(batch))


@pytest.mark.parametrize("chunk", [5, 64, 2**22])
def test_start_tags_are_counted_by_name_whatever_the_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(xmlstream, "_SCAN_CHUNK", chunk)
    text = (
        '<Document><BkToCstmrDbtCdtNtfctn><Ntfctn><Id>1</Id></Ntfctn><c:Ntfctn xmlns:c="u">'
        "</c:Ntfctn><Ntfctn\n/><NtfctnX/><Ntfctn\t></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"
    )
    path = tmp_path / "tags.xml"
    path.write_bytes(text.encode())
    with path.open("rb") as f:
        assert xmlstream._start_tags(f, "Ntfctn") == 4
        assert xmlstream._start_tags(f, "BkToCstmrDbtCdtNtfctn") == 1
        assert xmlstream._start_tags(f, "Ntry") == 0


def test_an_entry_tag_in_a_comment_at_the_cut_gets_the_file_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "two.xml"
    _write_big_camt054(path, singles=2, batches=0, per_batch=0)
    data = path.read_bytes()
    second = data.index(b"<Ntry>", data.index(b"<Ntry>") + 1)
    path.write_bytes(data[:second] + b"<!--<Ntry>-->" + data[second:])
    parts = xmlstream.cut(path, "Ntry", "Ntfctn", 2)
    assert parts is not None and parts[1].start == second + len(b"<!--")  # in the comment
    assert xmlstream.read_in_parts(camt054.rows, parts) is None  # a part does not parse
    assert [e.end_to_end_id for e in camt054.parse(path, processes=2)] == [
        e.end_to_end_id for e in camt054.parse(path)
    ]
    assert len(list(camt054.parse(path))) == 2
