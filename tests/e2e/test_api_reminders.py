"""Reminders and the calendar feed through real HTTP, on both stores.

Dates are relative to today: the server computes what is due from its own clock.
"""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar

from infrastructure.store.application import ReclaimApplication
from tests.support.report_support import ok, open_credit, submit, today


def alices_and_bobs_cases(api, settings) -> dict[str, str]:
    """alice: a temu credit submitted 10 days ago that expires in 5 days (follow-up 7 days
    overdue, 1-day warning in 4 days, expiry in 5); bob: a credit submitted 1 day ago."""
    alice, bob = api["owner"], api["other_member"]
    expires = (today() + timedelta(days=5)).isoformat()
    mine = open_credit(alice, opened_days_ago=12, expires_on=expires)
    submit(alice, mine["id"], 10)
    theirs = open_credit(bob, opened_days_ago=3, platform="shein")
    submit(bob, theirs["id"], 1)
    return {"alice": mine["id"], "bob": theirs["id"]}


def test_reminders_say_what_is_due_within_the_window_for_the_callers_cases(api, settings):
    ids = alices_and_bobs_cases(api, settings)
    found = ok(api["owner"].get("/v1/reminders"))
    assert found["within_days"] == 7 and found["today"] == today().isoformat()
    items = [
        (i["case_id"], i["kind"], i["due"], i["overdue"], i["days_left"]) for i in found["items"]
    ]
    t = today()
    assert items == [
        (ids["alice"], "follow_up", (t - timedelta(days=7)).isoformat(), True, -7),
        (ids["alice"], "expiry_warning", (t + timedelta(days=4)).isoformat(), False, 4),
        (ids["alice"], "expiry", (t + timedelta(days=5)).isoformat(), False, 5),
    ]
    first = found["items"][0]
    assert first["action"] == "follow_up" and first["title"] == "Follow up with temu"
    assert first["case"]["platform"] == "temu" and first["case"]["amount_claimed"] == "25.00"

    # bob's follow-up (shein, 5 days after yesterday) is 4 days away; only bob and the
    # auditor see it
    bobs = ok(api["other_member"].get("/v1/reminders", params={"within_days": 4}))["items"]
    assert [(i["case_id"], i["kind"]) for i in bobs] == [(ids["bob"], "follow_up")]
    everyone = ok(api["auditor"].get("/v1/reminders"))["items"]
    assert {i["case_id"] for i in everyone} == {ids["alice"], ids["bob"]}
    assert ok(api["foreign_auditor"].get("/v1/reminders"))["items"] == []
    assert ok(api["owner"].get("/v1/reminders", params={"within_days": 0}))["items"][0]["overdue"]


def test_reminders_refuse_bad_input_and_unknown_callers(api, settings):
    bad = api["owner"].get("/v1/reminders", params={"within_days": -1})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert api["anonymous"].get("/v1/reminders").status_code == 401
    assert api["revoked"].get("/v1/reminders").status_code == 401


def test_the_calendar_feed_has_an_event_per_deadline_with_stable_uids(api, settings):
    ids = alices_and_bobs_cases(api, settings)
    setup = ReclaimApplication(settings)
    try:
        token = setup.keys.rotate_calendar_token("alice", "home", "member")
    finally:
        setup.close()
    anonymous = api["anonymous"]
    response = anonymous.get("/v1/calendar.ics", params={"token": token})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    events = Calendar.from_ical(response.content).walk("VEVENT")
    # alice's case only: the follow-up, the 7- and 1-day warnings and the expiry
    kinds = sorted(str(e["categories"].cats[0]) for e in events)
    assert kinds == ["expiry", "expiry_warning", "expiry_warning", "follow_up"]
    assert all(ids["alice"] in str(e["description"]) for e in events)
    uids = {str(e["uid"]): e for e in events}
    reminders = ok(api["owner"].get("/v1/reminders?within_days=30"))["items"]
    assert {f"{i['id']}@reclaim" for i in reminders} < set(uids)
    # the calendar also keeps the 7-day warning whose day (2 days ago) has passed
    (past,) = set(uids) - {f"{i['id']}@reclaim" for i in reminders}
    assert uids[past].decoded("dtstart") == today() - timedelta(days=2)

    again = Calendar.from_ical(anonymous.get("/v1/calendar.ics", params={"token": token}).content)
    assert sorted(str(e["uid"]) for e in again.walk("VEVENT")) == sorted(
        str(e["uid"]) for e in events
    )


def test_a_rotated_or_revoked_calendar_token_is_401(api, settings):
    setup = ReclaimApplication(settings)
    try:
        old = setup.keys.rotate_calendar_token("alice", "home", "member")
        new = setup.keys.rotate_calendar_token("alice", "home", "member")
    finally:
        setup.close()
    anonymous = api["anonymous"]
    assert anonymous.get("/v1/calendar.ics", params={"token": new}).status_code == 200
    rotated = anonymous.get("/v1/calendar.ics", params={"token": old})
    assert rotated.status_code == 401
    assert rotated.headers["content-type"].startswith("application/problem+json")
    assert anonymous.get("/v1/calendar.ics").status_code == 401
    # an API key is not a calendar token
    assert anonymous.get("/v1/calendar.ics", params={"token": api.keys["owner"]}).status_code == 401

    setup = ReclaimApplication(settings)
    try:
        assert setup.keys.revoke_calendar_tokens("alice", "home") == 1
    finally:
        setup.close()
    assert anonymous.get("/v1/calendar.ics", params={"token": new}).status_code == 401
