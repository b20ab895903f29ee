"""The projections' queries on a small fixed history, against figures worked out by hand."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from infrastructure.projections.audit import GENESIS
from infrastructure.projections.projector import Projector
from infrastructure.read import cursors, queries
from infrastructure.store.shared_keys import CURSOR_KEY, shared_key
from tests.support.commands import as_users
from tests.support.factories import NOW, action_args, at, credit_facts, dispute_facts

D = Decimal


@pytest.fixture
def history(app):
    """Five cases; four in ws-1 (A, B of user-1; C, D of user-2), E in ws-2.

    A credit  USD  25.00 temu   opened at(60), resolved granted 25.00 at(63)       3 days
    B dispute USD 120.00 tiktok opened at(3), denied, appealed, partial 50.00 at(73)  70 days
    C credit  EUR  40.00 temu   opened at(60), escalated twice, rejected at(85)     25 days
    D credit  USD  10.00 shein  opened at(60), submitted, followed up by email: open
    E credit  USD  99.00 temu   (ws-2) resolved granted
    """

    def act(case_id, action, day, **overrides):
        when = None if day is None else at(day)
        return getattr(as_users(app), action)(case_id, **action_args(action, when, **overrides))

    a = as_users(app).open_credit(**credit_facts(), now=NOW).case.id
    act(a, "submit", 61)
    act(a, "resolve", 63)

    b = (
        as_users(app)
        .open_dispute(**dispute_facts(account_reference="tt-ads-7788"), now=NOW)
        .case.id
    )
    act(b, "attach_evidence", None)
    act(b, "submit", 61, channel="email", reference="")
    act(b, "deny", 62, reason="Not eligible")
    act(b, "appeal", 64)
    act(b, "resolve", 73, outcome="partial", recovered_amount="50.00", recovered_form="refund")

    c_facts = credit_facts(owner="user-2", currency="EUR", amount="40.00", problem="disappeared")
    c = as_users(app).open_credit(**c_facts, now=NOW).case.id
    act(c, "submit", 61)
    act(c, "escalate", 62)
    act(c, "escalate", 65, level="consumer_agency", contact="state attorney general")
    act(c, "resolve", 85, outcome="rejected", recovered_amount=None, recovered_form=None)

    d_facts = credit_facts(owner="user-2", platform="shein", amount="10.00")
    d = as_users(app).open_credit(**d_facts, now=NOW).case.id
    act(d, "submit", 61)
    act(d, "follow_up", 62)

    e = as_users(app).open_credit(
        **credit_facts(workspace="ws-2", owner="user-9", amount="99.00"), now=NOW
    )
    act(e.case.id, "resolve", 61, recovered_amount="99.00")
    Projector(app).catch_up()
    return {"A": str(a), "B": str(b), "C": str(c), "D": str(d), "E": str(e.case.id)}


def test_summary_matches_the_figures_worked_out_by_hand(app, history) -> None:
    summary = queries.summary(app.database, "ws-1", None)
    assert summary["cases"] == 4
    assert {k: v for k, v in summary["by_state"].items() if v} == {"resolved": 3, "followed_up": 1}
    assert summary["by_kind"] == {"credit": 3, "dispute": 1}
    assert summary["by_platform"] == {"shein": 1, "temu": 2, "tiktok": 1}
    assert summary["money"] == [
        {"currency": "EUR", "claimed": D("40.00"), "recovered": D("0.00"), "rate": D("0.0000")},
        {"currency": "USD", "claimed": D("155.00"), "recovered": D("75.00"), "rate": D("0.5172")},
    ]
    assert summary["median_days_to_resolution"] == 25.0

    mine = queries.summary(app.database, "ws-1", "user-1")
    assert mine["cases"] == 2
    assert mine["money"] == [
        {"currency": "USD", "claimed": D("145.00"), "recovered": D("75.00"), "rate": D("0.5172")}
    ]
    assert mine["median_days_to_resolution"] == 36.5
    other = queries.summary(app.database, "ws-2", None)
    assert other["cases"] == 1 and other["money"][0]["recovered"] == D("99.00")
    assert queries.summary(app.database, "ws-3", None)["money"] == []


def test_recovery_grouped_four_ways(app, history) -> None:
    def rows(group_by, owner=None):
        found = queries.recovery(app.database, "ws-1", owner, group_by)
        keys = ("group", "currency", "cases", "claimed", "recovered", "rate")
        return [tuple(r[k] for k in keys) for r in found]

    assert rows("platform") == [
        ("temu", "EUR", 1, D("40.00"), D("0.00"), D("0.0000")),
        ("temu", "USD", 1, D("25.00"), D("25.00"), D("1.0000")),
        ("tiktok", "USD", 1, D("120.00"), D("50.00"), D("0.4167")),
    ]
    assert rows("kind") == [
        ("credit", "EUR", 1, D("40.00"), D("0.00"), D("0.0000")),
        ("credit", "USD", 1, D("25.00"), D("25.00"), D("1.0000")),
        ("dispute", "USD", 1, D("120.00"), D("50.00"), D("0.4167")),
    ]
    assert [r[:3] for r in rows("reason")] == [
        ("disappeared", "EUR", 1),
        ("expired", "USD", 1),
        ("non_performance", "USD", 1),
    ]
    assert [r[:4] for r in rows("month")] == [
        ("2026-03", "USD", 2, D("145.00")),
        ("2026-04", "EUR", 1, D("40.00")),
    ]
    theirs = ("temu", "EUR", 1, D("40.00"), D("0.00"), D("0.0000"))
    assert rows("platform", owner="user-2") == [theirs]
    with pytest.raises(queries.InvalidQuery):
        queries.recovery(app.database, "ws-1", None, "colour")


def test_outcomes_of_appealed_escalated_and_other_cases(app, history) -> None:
    result = queries.outcomes(app.database, "ws-1", None)
    none = {"granted": 0, "partial": 0, "rejected": 0, "withdrawn": 0, "open": 0}
    assert result["appealed"] == {**none, "cases": 1, "partial": 1}
    assert result["escalated"]["consumer_agency"] == {**none, "cases": 1, "rejected": 1}
    assert result["escalated"]["supervisor"] == {**none, "cases": 0}
    assert result["neither"] == {**none, "cases": 2, "granted": 1, "open": 1}
    assert queries.outcomes(app.database, "ws-1", "user-1")["neither"]["cases"] == 1


def _ids(page) -> list[str]:
    return [item["id"] for item in page.items]


def test_case_list_filters_sorts_and_scopes(app, history) -> None:
    db = app.database
    h = history

    def ids(owner=None, **filters):
        return _ids(queries.list_cases(db, "ws-1", owner, **filters))

    same_day = sorted([h["A"], h["C"], h["D"]], reverse=True)  # opened at the same moment
    assert ids() == [*same_day, h["B"]]  # newest first, ties by id
    assert set(ids(kind="credit")) == {h["A"], h["C"], h["D"]}
    assert ids(state="resolved", sort="opened_at") == [h["B"], *sorted([h["A"], h["C"]])]
    assert set(ids(platform="temu")) == {h["A"], h["C"]}
    assert ids(q="T-1001") == same_day  # the support ticket they were submitted with
    assert ids(q="TT-ADS") == [h["B"]]
    assert ids(q="50%_") == []
    assert set(ids(opened_after=at(10))) == {h["A"], h["C"], h["D"]}
    assert ids(opened_before=at(10)) == [h["B"]]
    assert ids(sort="amount_claimed") == [h["D"], h["A"], h["C"], h["B"]]
    assert ids(sort="-amount_recovered")[0] == h["B"]
    assert ids(owner="user-2") == sorted([h["C"], h["D"]], reverse=True)
    assert _ids(queries.list_cases(db, "ws-2", None)) == [h["E"]]
    with_deadlines = {
        i["id"]
        for i in queries.list_cases(db, "ws-1", None).items
        if i["next_deadline"] is not None
    }
    assert with_deadlines and set(ids(due_before=at(1000))) == with_deadlines

    a = queries.case_row(db, h["A"], "ws-1", None)
    assert a is not None
    assert (a["state"], a["amount_claimed"], a["amount_recovered"]) == ("resolved", D(25), D(25))
    assert str(a["amount_claimed"]) == "25.00"
    assert (a["opened_at"], a["resolved_at"]) == (at(60), at(63))
    assert a["expires_on"] == date(2026, 3, 10) and a["appealed"] is False
    assert queries.case_row(db, h["A"], "ws-1", "user-2") is None
    assert queries.case_row(db, h["A"], "ws-2", None) is None


def test_the_due_before_filter_reads_the_deadline_hook(app, monkeypatch) -> None:
    from infrastructure.projections import cases
    from infrastructure.projections.events import optional_iso

    monkeypatch.setattr(
        cases, "next_deadline_for", lambda case, policy: optional_iso(case.last_outbound_at)
    )
    case = as_users(app).open_credit(**credit_facts(), now=NOW).case
    as_users(app).submit(case.id, **action_args("submit", at(61)))
    Projector(app).catch_up()
    assert _ids(queries.list_cases(app.database, "ws-1", None, due_before=at(62))) == [str(case.id)]
    assert _ids(queries.list_cases(app.database, "ws-1", None, due_before=at(61))) == []


def test_pages_never_repeat_or_skip_a_case_when_others_open_meanwhile(app, history) -> None:
    for sort in ("opened_at", "-opened_at", "amount_claimed", "-last_activity_at"):
        expected = _ids(queries.list_cases(app.database, "ws-1", None, sort=sort))
        seen, cursor = [], None
        while True:
            page = queries.list_cases(app.database, "ws-1", None, sort=sort, limit=1, cursor=cursor)
            seen += _ids(page)
            as_users(app).open_credit(**credit_facts(occurred_at=at(59), amount="30.00"), now=NOW)
            Projector(app).catch_up()
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [i for i in seen if i in expected] == expected
        assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "arguments",
    [{"sort": "colour"}, {"limit": 0}, {"limit": 501}, {"cursor": "not-a-cursor"}],
)
def test_a_bad_sort_limit_or_cursor_is_refused(app, arguments) -> None:
    with pytest.raises(queries.InvalidQuery):
        queries.list_cases(app.database, "ws-1", None, **arguments)


def test_a_cursor_only_continues_the_sort_it_came_from(app, history) -> None:
    page = queries.list_cases(app.database, "ws-1", None, sort="opened_at", limit=1)
    assert page.next_cursor is not None
    with pytest.raises(queries.InvalidQuery):
        queries.list_cases(app.database, "ws-1", None, sort="-opened_at", cursor=page.next_cursor)


def _signed(app, parts) -> str:
    """A cursor holding ``parts``, signed with the store's own key: what someone who had
    read the key could send."""
    return cursors.sign(shared_key(app.database, CURSOR_KEY), parts)


@pytest.mark.parametrize(
    ("sort", "value", "case_id"),
    [
        ("-opened_at", [1, 2], "x"),
        ("-opened_at", {"a": 1}, "x"),
        ("-opened_at", 10**30, "x"),
        ("-opened_at", None, str(UUID(int=1))),
        ("-opened_at", "2026-03-14", str(UUID(int=1))),
        ("-opened_at", "2026-02-30T09:00:00.000000+00:00", str(UUID(int=1))),
        ("-opened_at", "٢٠٢٦-03-14T09:00:00.000000+00:00", str(UUID(int=1))),  # not ASCII digits
        ("-opened_at", "2026-03-14T09:00:00.000000+00:00", "x"),
        ("-opened_at", "2026-03-14T09:00:00.000000+00:00", str(UUID(int=0xABC)).upper()),
        ("-opened_at", "2026-03-14T09:00:00.000000+00:00", 7),
        ("amount_claimed", 10**30, str(UUID(int=1))),
        ("amount_claimed", True, str(UUID(int=1))),
        ("amount_claimed", 2.5, str(UUID(int=1))),
        ("amount_claimed", "25000", str(UUID(int=1))),
    ],
)
def test_every_part_of_a_cursor_is_checked_even_when_it_is_signed(
    app, history, sort, value, case_id
) -> None:
    with pytest.raises(queries.InvalidQuery) as refused:
        queries.list_cases(
            app.database, "ws-1", None, sort=sort, cursor=_signed(app, [sort, value, case_id])
        )
    assert refused.value.field == "cursor"
    for parts in ([sort, value], [sort, value, case_id, 1], {"sort": sort}):
        with pytest.raises(queries.InvalidQuery):
            queries.list_cases(app.database, "ws-1", None, sort=sort, cursor=_signed(app, parts))


def test_a_cursor_is_signed_so_none_can_be_made_up(app, history) -> None:
    page = queries.list_cases(app.database, "ws-1", None, sort="opened_at", limit=1)
    content, mac = page.next_cursor.split(".")
    parts = json.loads(base64.urlsafe_b64decode(content + "=" * (-len(content) % 4)))
    assert parts[0] == "opened_at" and parts[2] == page.items[0]["id"]
    # the same content, signed with a key of one's own; the content alone; a MAC changed
    for forged in (
        cursors.sign(b"another key", parts),
        content,
        f"{content}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        # the same MAC bytes spelled otherwise (base64's unused low bits of the last
        # character): refused, or a cursor would have four valid spellings
        f"{content}.{mac[:-1]}{_other_spelling(mac[-1])}",
    ):
        with pytest.raises(queries.InvalidQuery):
            queries.list_cases(app.database, "ws-1", None, sort="opened_at", cursor=forged)
    rest = queries.list_cases(app.database, "ws-1", None, sort="opened_at", cursor=page.next_cursor)
    assert len(rest.items) == 3


def test_nodes_with_their_own_data_directories_share_one_cursor_key(settings_for, tmp_path) -> None:
    """Several API nodes, each with its own data directory, on one PostgreSQL database:
    what one gives out, the others take. The key is made once, by the first to create the
    tables, and made afresh by a node that finds none (tables from an older version)."""
    from infrastructure.store import shared_keys
    from infrastructure.store.application import ReclaimApplication

    first = settings_for("postgres")
    node_a = ReclaimApplication(first)
    second = first.model_copy(update={"data_dir": tmp_path / "node-b"})
    node_b = ReclaimApplication(second)  # creates the tables again: the key stays
    try:
        for n in range(3):
            as_users(node_a).open_credit(**credit_facts(amount=f"{n + 1}.00"), now=NOW)
        page = queries.list_cases(node_a.database, "ws-1", None, limit=2)
        rest = queries.list_cases(node_b.database, "ws-1", None, cursor=page.next_cursor)
        assert len(rest.items) == 1
        key = shared_key(node_a.database, CURSOR_KEY)
        assert shared_key(node_b.database, CURSOR_KEY) == key and len(key) == 32
        node_b.database.execute(f"DELETE FROM {shared_keys.TABLE}")
        node_c = ReclaimApplication(first.model_copy(update={"create_tables": False}))
        try:
            made = shared_key(node_c.database, CURSOR_KEY)
            assert made != key and len(made) == 32
            assert shared_keys.shared_key(node_c.database, CURSOR_KEY) == made
        finally:
            node_c.close()
    finally:
        node_b.close()
        node_a.close()


def test_timelines_read_like_a_story_in_the_order_things_happened(app, history) -> None:
    def titles(key):
        return [e["title"] for e in queries.timeline(app.database, history[key], "ws-1", None)]

    assert titles("A") == [
        "Opened: 25.00 USD store credit on temu (expired)",
        "Submitted via support ticket T-1001",
        "Resolved: granted, 25.00 USD recovered as credit reinstated",
    ]
    assert titles("B")[0] == (
        "Opened: dispute of 120.00 USD charge CAMPAIGN-2026-042 on tiktok (non performance)"
    )
    assert titles("B")[1:] == [
        "Submitted by email",
        "Denied: Not eligible",
        "Appealed",
        "Resolved: partial, 50.00 USD recovered as refund",
        "Evidence attached: screenshot (shot.png)",  # no time of its own: when it was recorded
    ]
    assert titles("C")[2:4] == [
        "Escalated to a supervisor (support lead)",
        "Escalated to consumer agency (state attorney general)",
    ]
    assert titles("C")[-1] == "Resolved: rejected"
    assert titles("D")[-1] == "Followed up by email"
    entry = queries.timeline(app.database, history["B"], "ws-1", None)[2]
    assert (entry["occurred_at"], entry["actor"]) == (at(62), "user-1")
    assert entry["request_id"] == "req-1"
    assert entry["recorded_at"] > entry["occurred_at"]
    assert queries.timeline(app.database, history["B"], "ws-1", "user-2") == []


def test_audit_entries_for_a_case_and_for_the_workspace(app, history) -> None:
    db = app.database
    entries = queries.case_audit(db, history["A"], "ws-1", None)
    assert [e["version"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev_hash"] == GENESIS
    assert [e["position"] for e in entries] == [1, 2, 3]  # so each links to the one before
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert entries[1]["event_type"] == "submitted" and entries[1]["topic"].endswith("Submitted")
    assert entries[1]["payload"]["reference"] == "T-1001"
    assert entries[2]["payload"]["recovered_amount"] == "25.00"
    assert queries.case_audit(db, history["A"], "ws-2", None) == []

    everything, after = [], None
    while True:
        page = queries.audit_events(db, "ws-1", after=after, limit=4)
        everything += page.items
        if page.next_cursor is None:
            break
        after = int(page.next_cursor)
    positions = [e["position"] for e in everything]
    assert positions == sorted(positions) and len(positions) == 3 + 6 + 5 + 3
    assert {e["workspace"] for e in everything} == {"ws-1"}
    mine = queries.audit_events(db, "ws-1", "user-2", limit=100).items
    assert {e["case_id"] for e in mine} == {history["C"], history["D"]}
    only_b = queries.audit_events(db, "ws-1", case_id=history["B"]).items
    assert [e["version"] for e in only_b] == [1, 2, 3, 4, 5, 6]
    assert queries.audit_events(db, "ws-1", actor="nobody").items == []
    head = queries.audit_head(db)
    assert head is not None and head["position"] == app.recorder.max_notification_id()


def test_timeline_entries_with_their_platform_for_the_timeliness_report(app, history) -> None:
    rows = queries.timeline_with_platform(app.database, "ws-1", "user-1")
    assert [r["case_id"] for r in rows] == sorted(r["case_id"] for r in rows)
    b = [(r["event_type"], r["platform"]) for r in rows if r["case_id"] == history["B"]]
    assert b == [
        ("opened", "tiktok"),
        ("submitted", "tiktok"),
        ("denied", "tiktok"),
        ("appealed", "tiktok"),
        ("resolved", "tiktok"),
        ("evidence_attached", "tiktok"),
    ]
    assert rows[0]["occurred_at"].tzinfo is not None
    everyone = queries.timeline_with_platform(app.database, "ws-1", None)
    assert len(everyone) == 17 and {r["platform"] for r in everyone} == {"temu", "tiktok", "shein"}


def _other_spelling(last: str) -> str:
    """A base64url character that differs from ``last`` only in its lowest bit."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet[alphabet.index(last) ^ 1]
