"""What the draft tests share: a workspace template with a subject and a body block."""

SUBJECT_BODY = "{% block subject %}Hi {{ platform }}{% endblock %}{% block body %}B{% endblock %}"
