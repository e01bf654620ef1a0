"""Turn ledger rows into the pictures the console draws."""
from __future__ import annotations

from django.utils.safestring import SafeString

from console.charts import FlowNode, entry_flow, movement_flow
from console.selectors import Hop
from ledger.models import Account, LedgerEntry, LedgerLine, Side


def effect(account: Account, side: str, amount: int) -> int:
    """Signed effect on the account's balance in its normal-side terms (the
    seed's picture: a debit to a credit-normal account is negative)."""
    return amount if side == account.normal_side else -amount


def entry_flow_svg(lines: list[tuple[LedgerLine, Account]], *, label: str) -> SafeString | None:
    if not lines:
        return None
    debits: dict[int, list] = {}
    credits: dict[int, list] = {}
    for line, acc in lines:
        bucket = debits if line.side == Side.DEBIT else credits
        node, amount = bucket.get(acc.id, [FlowNode(acc.name, acc.code, 0), 0])
        node.effect += effect(acc, line.side, line.amount_minor)
        bucket[acc.id] = [node, amount + line.amount_minor]
    currency = lines[0][0].currency
    return entry_flow([tuple(v) for v in debits.values()], [tuple(v) for v in credits.values()],
                      hub_label=label, currency=currency)


def payload_flow_svg(payload: dict, accounts: dict[str, Account], *, label: str) -> SafeString | None:
    """The picture of an entry that is not posted yet (an approval request)."""
    lines = []
    for ln in payload.get("lines", []):
        acc = accounts.get(ln["account"])
        if acc is None:
            return None
        lines.append((LedgerLine(side=ln["side"], amount_minor=ln["amount_minor"], currency=ln["currency"]), acc))
    return entry_flow_svg(lines, label=label)


def movement_svg(hops: list[Hop], *, current: LedgerEntry) -> SafeString | None:
    if not hops:
        return None
    first = hops[0]
    nodes = [FlowNode(first.debit.name, first.debit.code, effect(first.debit, Side.DEBIT, first.amount_minor))]
    arrows = []
    for hop in hops:
        nodes.append(FlowNode(hop.credit.name, hop.credit.code, effect(hop.credit, Side.CREDIT, hop.amount_minor)))
        # Posting ids are listed under the strip: the gap between nodes is for the amount.
        arrows.append((hop.amount_minor, "", hop.entry.id == current.id))
    return movement_flow(nodes, arrows)
