"""Masking by role: who sees a beneficiary's name, id number and account in clear. Pure.

One decision, `sight`, says for a viewer and a case's region whether the viewer sees the
case's personal data in clear, and whether they see the personal data of its payments;
`masked` applies it to a record, a list of records or a whole document. The API, the console
and the command line (``--by``) all show what these two functions leave.

The rule (SPEC, "Logins, the console and confidentiality"): names, id numbers and accounts
are shown in clear only to the roles that need them, for a case within their region —
``caseworker``, ``approver`` and ``supervisor`` (the case and its money), ``finance`` and
``finance_approver`` (its payments: who is paid, into which account), an ``auditor`` who gave a
reason for the view. Everyone else — another region, an ``admin``, an auditor without a
reason, finance looking at a case's decisions — sees ``张*三``, ``610102********1234``,
``6222****1234``. The store's operator on the command line without ``--by`` is no viewer
(``None``): they hold the store itself, and see what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ledger.duties import Actor
from ledger.ids import mask_id_number, mask_name

#: Roles that see a case's personal data (decisions, state) and its payments' in clear.
CASE_ROLES = ("caseworker", "approver", "supervisor")
#: Roles that see the personal data of payments (the creditor, the account) in clear.
PAYMENT_ROLES = ("finance", "finance_approver")
#: Sees everything in clear, with a reason for the view.
AUDITOR = "auditor"


def mask_account(account: str) -> str:
    """A bank account masked: ``6222021234567891234 -> 6222****1234``."""
    if len(account) <= 8:
        return "*" * len(account)
    return account[:4] + "****" + account[-4:]


def mask_reference(ref: str) -> str:
    """Another department's reference to a person's record (a plate number, a property or
    business registration) masked: its first two and last two characters kept."""
    if len(ref) <= 4:
        return "*" * len(ref)
    return ref[:2] + "*" * (len(ref) - 4) + ref[-2:]


#: The personal fields a record may carry, by name, and how each is masked.
PERSONAL_FIELDS: Mapping[str, Callable[[str], str]] = {
    "name": mask_name,
    "account_name": mask_name,
    "creditor_name": mask_name,
    "bank_name": mask_name,
    "reported_name": mask_name,
    "id_number": mask_id_number,
    "bank_account": mask_account,
    "creditor_account": mask_account,
    "reported_account": mask_account,
    "member_name": mask_name,
    "member_id_number": mask_id_number,
    "source_ref": mask_reference,
}

#: Keys that make a record one about money (a payment, a recovery, a finding), not a decision.
_MONEY_KEYS = ("payment_id", "recovery_id", "finding_id")


@dataclass(frozen=True)
class Sight:
    """What a viewer sees in clear: the case's personal data, and its payments'."""

    case: bool
    payment: bool

    @property
    def anything_masked(self) -> bool:
        return not (self.case and self.payment)


CLEAR = Sight(case=True, payment=True)
MASKED = Sight(case=False, payment=False)


def sight(viewer: Actor | None, region_code: str | None, *, reason: str = "") -> Sight:
    """What ``viewer`` sees in clear of a case of ``region_code`` (None: not tied to one
    region), having given ``reason`` for the view. ``None`` is the store's operator."""
    if viewer is None:
        return CLEAR
    if viewer.system or not viewer.covers(region_code):
        return MASKED
    if viewer.holds(*CASE_ROLES) or (viewer.holds(AUDITOR) and reason.strip()):
        return CLEAR
    return Sight(case=False, payment=viewer.holds(*PAYMENT_ROLES))


def masked(value: Any, clear: bool) -> Any:
    """``value`` (a record, a list of them, a ``changes`` map) with every personal field
    masked, unless ``clear``. A new value; the one given is left as it was."""
    if clear:
        return value
    if isinstance(value, list | tuple):
        return [masked(v, clear) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, v in value.items():
        mask = PERSONAL_FIELDS.get(key)
        if mask is not None and isinstance(v, str):
            out[key] = mask(v) if v else v
        elif key == "changes" and isinstance(v, dict):
            out[key] = {
                f: [_mask_value(f, x) for x in pair] if isinstance(pair, list | tuple) else pair
                for f, pair in v.items()
            }
        else:
            out[key] = masked(v, clear)
    return out


def _mask_value(field: str, value: Any) -> Any:
    mask = PERSONAL_FIELDS.get(field)
    return mask(value) if mask is not None and isinstance(value, str) and value else value


def masked_history(doc: dict[str, Any], seen: Sight) -> dict[str, Any]:
    """A case history document (``case history --format json``) as ``seen``: the state and
    the decisions by the case's sight, each record about money by the payments' sight."""
    if not seen.anything_masked:
        return doc
    return {
        **doc,
        "state": masked(doc.get("state"), seen.case),
        "events": [
            masked(e, seen.payment if any(k in e for k in _MONEY_KEYS) else seen.case)
            for e in doc.get("events", [])
        ],
    }


def masked_rows(
    rows: list[dict[str, Any]], viewer: Actor | None, *, reason: str = "", money: bool = True
) -> list[dict[str, Any]]:
    """Rows of a listing (findings, a run's held payments), each as ``viewer`` sees a case of
    its ``region_code``: by the payments' sight (``money``) or the case's."""
    out = []
    for row in rows:
        seen = sight(viewer, row.get("region_code"), reason=reason)
        out.append(masked(row, seen.payment if money else seen.case))
    return out
