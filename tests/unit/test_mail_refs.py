"""Mail references: a sent mail's Message-ID and subject tag name its case, and cannot be forged."""

from uuid import uuid4

from infrastructure.mail import refs

KEY = b"k" * 32


def test_message_id_names_its_case_and_only_with_the_key():
    case = uuid4()
    mid = refs.message_id(KEY, case, "example.org")
    assert mid.startswith("<reclaim.") and mid.endswith("@example.org>")
    assert refs.case_of_message_id(KEY, mid) == case
    assert refs.case_of_message_id(KEY, f"<other@x.example> {mid}") == case
    assert refs.case_of_message_id(b"z" * 32, mid) is None
    forged = mid.replace(case.hex, uuid4().hex)
    assert refs.case_of_message_id(KEY, forged) is None
    assert refs.case_of_message_id(KEY, "") is None


def test_subject_tag_is_added_once_and_checked_against_the_whole_id():
    case = uuid4()
    subject = refs.tagged(KEY, "Appeal of denied credit", case)
    assert refs.tagged(KEY, subject, case) == subject
    ((prefix, mac),) = refs.tag_prefixes("RE: Fwd: " + subject.upper())
    assert case.hex.startswith(prefix)
    assert refs.tag_matches(KEY, case, mac)
    other = uuid4()
    assert not refs.tag_matches(KEY, other, mac)
    assert refs.tag_prefixes("no tag here [Reclaim zz]") == []
